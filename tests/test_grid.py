import numpy as np
import pytest

from aether.raster.grid import Grid, utm_crs


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [(24.94, 60.17, "EPSG:32635"), (-0.12, 51.5, "EPSG:32630"), (103.8, 1.35, "EPSG:32648"), (-46.6, -23.5, "EPSG:32723")],
)
def test_utm_crs_picks_zone(lon, lat, expected):
    assert utm_crs(lon, lat) == expected


def test_utm_crs_rejects_projected_coordinates():
    with pytest.raises(ValueError, match="not a lon/lat"):
        utm_crs(385_000.0, 6_672_000.0)


def test_from_bounds_snaps_outwards():
    grid = Grid.from_bounds("EPSG:32635", (1003.0, 2004.0, 1047.0, 2031.0), 10)
    assert grid.bounds == (1000.0, 2000.0, 1050.0, 2040.0)
    assert grid.shape == (4, 5)


def test_rowcol_and_coords_agree():
    grid = Grid("EPSG:32635", 1000.0, 2000.0, 10.0, width=5, height=4)
    rows, cols = grid.rowcol(grid.x_coords(), np.full(5, grid.y_coords()[2]))
    assert cols.tolist() == [0, 1, 2, 3, 4]
    assert rows.tolist() == [2] * 5


def test_contains_flags_outside_pixels():
    grid = Grid("EPSG:32635", 0.0, 100.0, 10.0, width=10, height=10)
    rows, cols = grid.rowcol(np.array([5.0, -5.0, 95.0, 105.0]), np.array([95.0, 95.0, 5.0, 50.0]))
    assert grid.contains(rows, cols).tolist() == [True, False, True, False]
