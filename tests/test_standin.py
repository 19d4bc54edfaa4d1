import numpy as np
import pytest
import rasterio

from aether import duck, osm
from aether.raster.codec import NODATA_CODE, dequantise
from aether.raster.standin import (
    STANDIN_TAG,
    StandinSettings,
    build_standin,
    coverage,
)
from aether.raster.grid import Grid


@pytest.fixture(scope="module")
def town_standin(toy_town_pbf, tmp_path_factory):
    path = tmp_path_factory.mktemp("standin") / "standin.tif"
    grid = build_standin(toy_town_pbf, path)
    return path, grid


def test_standin_has_alphaearth_encoding(town_standin):
    path, grid = town_standin
    with rasterio.open(path) as dataset:
        assert dataset.count == 64
        assert dataset.dtypes[0] == "int8"
        assert dataset.nodata == NODATA_CODE
        assert dataset.crs.to_string() == "EPSG:32635"
        assert dataset.res == (10.0, 10.0)
        assert dataset.descriptions[0] == "A00"
        assert dataset.tags()[STANDIN_TAG] == "true"
        codes = dataset.read()
    assert codes.shape == (64, grid.height, grid.width)


def test_standin_vectors_have_unit_length(town_standin):
    with rasterio.open(town_standin[0]) as dataset:
        values = dequantise(dataset.read())
    valid = ~np.isnan(values[0])
    norms = np.linalg.norm(values[:, valid], axis=0)
    assert valid.sum() > 100
    assert np.max(np.abs(norms - 1)) < 0.02


def test_standin_marks_pixels_outside_extract_as_nodata(town_standin):
    with rasterio.open(town_standin[0]) as dataset:
        codes = dataset.read(1)
    nodata = codes == NODATA_CODE
    assert 0 < nodata.mean() < 0.5
    # Nodata is all-or-nothing per pixel, like the public tiles.
    with rasterio.open(town_standin[0]) as dataset:
        assert np.all((dataset.read() == NODATA_CODE) == nodata)


def test_standin_is_reproducible_and_seeded(toy_town_pbf, town_standin, tmp_path):
    again = tmp_path / "again.tif"
    other_seed = tmp_path / "seed1.tif"
    build_standin(toy_town_pbf, again)
    build_standin(toy_town_pbf, other_seed, StandinSettings(seed=1))
    with rasterio.open(town_standin[0]) as a, rasterio.open(again) as b, rasterio.open(other_seed) as c:
        first, second, third = a.read(), b.read(), c.read()
    assert np.array_equal(first, second)
    assert not np.array_equal(first, third)


def test_standin_separates_water_from_buildings(toy_town_pbf, town_standin):
    """A water pixel must be closer to its water neighbour than to a pixel inside a building block."""
    path, grid = town_standin
    with rasterio.open(path) as dataset:
        values = dequantise(dataset.read())
    connection = duck.connect()
    osm.load_osm(connection, toy_town_pbf)
    water = osm.query_geodataframe(
        connection, "SELECT geom FROM osm_areas WHERE tags['natural'] = 'water'", grid.crs
    ).geometry.iloc[0].centroid
    water_row, water_col = (index[0] for index in grid.rowcol(np.array([water.x]), np.array([water.y])))
    # The first building of the town covers 15..45 m east and north of the town origin.
    building_row, building_col = (index[0] for index in grid.rowcol(np.array([385_430.0]), np.array([6_672_030.0])))

    water_vector = values[:, water_row, water_col]
    neighbour = values[:, water_row + 1, water_col]
    building = values[:, building_row, building_col]
    assert not np.isnan(water_vector).any()
    assert not np.isnan(building).any()
    assert float(water_vector @ neighbour) > float(water_vector @ building)


def test_standin_never_reads_landuse():
    for name, (table, condition, _) in StandinSettings().layers.items():
        assert "landuse" not in condition, name


def test_coverage_counts_partial_pixels():
    from shapely.geometry import box

    grid = Grid("EPSG:32635", 0.0, 20.0, 10.0, width=2, height=2)
    # The box covers the centres of 2 of the 5 sub-pixel columns of the top-left pixel.
    cover = coverage([box(0, 10, 4, 20)], grid, supersample=5)
    assert cover[0, 0] == pytest.approx(0.4)
    assert cover[1, 1] == 0
