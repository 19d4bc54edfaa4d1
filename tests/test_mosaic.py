"""Mosaics of several AlphaEarth files across two UTM zones onto one working grid."""

import numpy as np
import pytest
import rasterio
import xarray as xr
from pyproj import Transformer

from aether.exceptions import ConfigError, InvalidRasterError, NoDataError
from aether.raster.grid import Grid
from aether.raster.ingest import inspect_raster
from aether.raster.mosaic import (
    Area,
    SourceFile,
    assemble_tiles,
    expand_sources,
    load_area,
    plan_grid,
    plan_tiles,
    working_crs,
    write_tile,
)
from aether.raster.store import FLOAT_ENCODING, INT8_ENCODING, open_embedding, read_attrs, store_grid
from tests.generators import write_alphaearth_tif

# Two tiles on either side of the border between UTM zones 34N and 35N (24° E), near 60° N.
ZONE_34, ZONE_35 = "EPSG:32634", "EPSG:32635"
BORDER_LON, LAT = 24.0, 60.0


def _utm(crs: str, lon: float, lat: float) -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)


@pytest.fixture
def two_zone_tiles(tmp_path):
    """An int8 tile in zone 35N (stored bottom-up, with a nodata hole) and one in zone 34N, both 10 m."""
    east_x, east_y = _utm(ZONE_35, BORDER_LON, LAT)
    west_x, west_y = _utm(ZONE_34, BORDER_LON, LAT)
    hole = np.zeros((60, 50), dtype=bool)
    hole[20:25, 30:36] = True
    east = write_alphaearth_tif(
        tmp_path / "east.tif",
        height=60,
        width=50,
        seed=1,
        crs=ZONE_35,
        left=round(east_x, -1) - 100,
        top=round(east_y, -1) + 300,
        bottom_up=True,
        nodata_mask=hole,
    )
    west = write_alphaearth_tif(
        tmp_path / "west.tif",
        height=60,
        width=50,
        seed=2,
        crs=ZONE_34,
        left=round(west_x, -1) - 400,
        top=round(west_y, -1) + 300,
    )
    return tmp_path, east, west, hole


def _mosaic(tmp_path, sources, area, *, tile=32, chunk=16, crs="auto"):
    tmp_path.mkdir(exist_ok=True)
    infos = [inspect_raster(source.path, encoding=source.encoding) for source in sources]
    grid = plan_grid(infos, area, working_crs(crs, area, infos), 10.0)
    parts = []
    for index, tile_plan in enumerate(plan_tiles(grid, tile=tile, chunk=chunk)):
        part = tmp_path / "tiles" / f"{tile_plan.name}.zarr"
        write_tile(sources, grid, tile_plan.block, part, chunk=chunk, area=area)
        parts.append(part)
    output = tmp_path / "mosaic.zarr"
    assemble_tiles(parts, grid, output, chunk=chunk, attrs={"kind": "alphaearth"}, area=area)
    return grid, output


def _area_around_border(half_width=0.004, half_height=0.0015):
    return Area(
        (BORDER_LON - half_width, LAT - half_height, BORDER_LON + half_width, LAT + half_height),
        "test box",
    )


def test_mosaic_places_known_pixels_at_known_coordinates(two_zone_tiles):
    tmp_path, east, west, hole = two_zone_tiles
    sources = [SourceFile(str(tmp_path / "east.tif")), SourceFile(str(tmp_path / "west.tif"))]
    grid, output = _mosaic(tmp_path, sources, _area_around_border())

    assert grid.crs == ZONE_35  # the box's centre lies just east of 24° E
    mosaic = open_embedding(output).values
    east_grid = inspect_raster(tmp_path / "east.tif").grid
    west_grid = inspect_raster(tmp_path / "west.tif").grid
    to_west = Transformer.from_crs(ZONE_35, ZONE_34, always_xy=True)
    xs, ys = np.meshgrid(grid.x_coords(), grid.y_coords())
    seen = {"east": 0, "west": 0}
    for row in range(grid.height):
        for col in range(grid.width):
            x, y = xs[row, col], ys[row, col]
            e_row, e_col = east_grid.rowcol(x, y)
            if east_grid.contains(e_row, e_col) and not np.isnan(east[0, e_row, e_col]):
                # Same zone and pixel-aligned: the very vector of that pixel.
                assert np.allclose(mosaic[:, row, col], east[:, e_row, e_col], atol=1e-7)
                seen["east"] += 1
                continue
            w_row, w_col = west_grid.rowcol(*to_west.transform(x, y))
            if west_grid.contains(w_row, w_col):
                # Reprojected with nearest neighbour: the vector of the west pixel under the centre.
                assert np.allclose(mosaic[:, row, col], west[:, w_row, w_col], atol=1e-7)
                seen["west"] += 1
            else:
                assert np.isnan(mosaic[:, row, col]).all()
    assert seen["east"] > 100
    assert seen["west"] > 100


def test_mosaic_keeps_int8_codes_and_the_hole(two_zone_tiles):
    tmp_path, east, _, hole = two_zone_tiles
    sources = expand_sources([str(tmp_path / "*.tif")])
    grid, output = _mosaic(tmp_path, sources, _area_around_border())

    raw = xr.open_zarr(output, mask_and_scale=False)["embedding"]
    assert raw.dtype == np.int8
    assert read_attrs(output)["encoding"] == INT8_ENCODING
    # No other file covers the hole of the east tile, so it stays nodata.
    east_grid = inspect_raster(tmp_path / "east.tif").grid
    hole_rows, hole_cols = np.nonzero(hole)
    x = east_grid.x_coords()[hole_cols]
    y = east_grid.y_coords()[hole_rows]
    rows, cols = grid.rowcol(x, y)
    inside = grid.contains(rows, cols)
    assert inside.any()
    assert (raw.values[:, rows[inside], cols[inside]] == -128).all()


def test_mosaic_store_georeferenced_and_matches_grid(two_zone_tiles):
    tmp_path, *_ = two_zone_tiles
    sources = expand_sources([str(tmp_path / "*.tif")])
    grid, output = _mosaic(tmp_path, sources, _area_around_border())
    array = open_embedding(output)
    assert store_grid(array) == grid
    assert read_attrs(output)["valid_pixels"] == int((~np.isnan(array.values[0])).sum())
    assert sorted(read_attrs(output)["source_files"]) == sorted(str(tmp_path / name) for name in ("east.tif", "west.tif"))


def test_tiles_do_not_change_the_result(two_zone_tiles):
    tmp_path, *_ = two_zone_tiles
    sources = expand_sources([str(tmp_path / "*.tif")])
    _, small_tiles = _mosaic(tmp_path, sources, _area_around_border(), tile=16)
    small = open_embedding(small_tiles).values
    (tmp_path / "mosaic.zarr").rename(tmp_path / "small.zarr")
    for part in (tmp_path / "tiles").iterdir():
        import shutil

        shutil.rmtree(part)
    _, one_tile = _mosaic(tmp_path, sources, _area_around_border(), tile=4096)
    assert np.array_equal(np.isnan(small), np.isnan(open_embedding(one_tile).values))
    assert np.allclose(np.nan_to_num(small), np.nan_to_num(open_embedding(one_tile).values))


def test_float_export_in_other_crs_mosaics_as_float(tmp_path):
    x, y = _utm(ZONE_34, BORDER_LON, LAT)
    expected = write_alphaearth_tif(
        tmp_path / "export.tif", dtype="float32", crs=ZONE_34, left=round(x, -1) - 200, top=round(y, -1) + 200
    )
    area = _area_around_border(0.002, 0.001)
    grid, output = _mosaic(tmp_path, [SourceFile(str(tmp_path / "export.tif"))], area, crs=ZONE_35)
    assert read_attrs(output)["encoding"] == FLOAT_ENCODING
    values = open_embedding(output).values
    valid = ~np.isnan(values[0])
    assert valid.sum() > 50
    norms = np.linalg.norm(values[:, valid], axis=0)
    assert np.allclose(norms, 1.0, atol=1e-5)
    # Every output vector is one of the input vectors (nearest neighbour, no blending).
    inputs = expected.reshape(64, -1).T
    for vector in values[:, valid].T[:20]:
        assert np.isclose(np.abs(inputs - vector).max(axis=1), 0, atol=1e-6).any()


def test_boundary_masks_pixels_outside_the_polygon(two_zone_tiles):
    from shapely.geometry import Point, shape

    tmp_path, *_ = two_zone_tiles
    sources = expand_sources([str(tmp_path / "*.tif")])
    box_area = _area_around_border()
    _, unmasked_store = _mosaic(tmp_path / "box", sources, box_area)
    west, south, east, north = box_area.bounds
    triangle = {"type": "Polygon", "coordinates": [[(west, south), (east, south), (west, north), (west, south)]]}
    grid, output = _mosaic(tmp_path / "triangle", sources, Area(box_area.bounds, "triangle", triangle))

    unmasked, masked = open_embedding(unmasked_store).values, open_embedding(output).values
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    polygon = shape(triangle)
    xs, ys = np.meshgrid(grid.x_coords(), grid.y_coords())
    lon, lat = to_lonlat.transform(xs, ys)
    inside = np.vectorize(lambda a, b: polygon.contains(Point(a, b)))(lon, lat)
    assert inside.any()
    assert (~inside).any()
    assert np.isnan(masked[:, ~inside]).all()
    assert np.array_equal(np.isnan(masked[:, inside]), np.isnan(unmasked[:, inside]))
    assert (~np.isnan(masked[0, inside])).sum() > 100


def test_area_outside_every_file_is_refused(two_zone_tiles):
    tmp_path, *_ = two_zone_tiles
    infos = [inspect_raster(path) for path in sorted(tmp_path.glob("*.tif"))]
    far = Area((10.0, 50.0, 10.1, 50.1), "bbox far away")
    with pytest.raises(InvalidRasterError, match=r"intersects none of the AlphaEarth files.*east\.tif covers lon/lat"):
        plan_grid(infos, far, working_crs("auto", far, infos), 10.0)


def test_all_nodata_area_is_refused(tmp_path):
    write_alphaearth_tif(tmp_path / "empty.tif", nodata_mask=np.ones((40, 30), dtype=bool))
    sources = [SourceFile(str(tmp_path / "empty.tif"))]
    with pytest.raises(NoDataError, match=r"Every pixel of the area of interest .* is nodata.*empty\.tif"):
        _mosaic(tmp_path, sources, None)
    assert not (tmp_path / "mosaic.zarr").exists()


def test_float_stored_codes_rejected(tmp_path):
    from aether.raster.codec import quantise
    from tests.generators import smooth_unit_field

    codes = quantise(smooth_unit_field(40, 30, seed=4)).astype(np.float32)
    write_alphaearth_tif(tmp_path / "codes.tif", dtype="float32", values=codes)
    with pytest.raises(InvalidRasterError, match=r"codes\.tif.*int8 codes .*aef-int8"):
        _mosaic(tmp_path, [SourceFile(str(tmp_path / "codes.tif"))], None)
    assert not (tmp_path / "mosaic.zarr").exists()


def test_int8_file_declared_float_is_refused(tmp_path):
    write_alphaearth_tif(tmp_path / "codes.tif")
    with pytest.raises(InvalidRasterError, match=r"codes\.tif: alphaearth.encoding is float32, but the file contains int8"):
        _mosaic(tmp_path, [SourceFile(str(tmp_path / "codes.tif"), "float32")], None)


def test_glob_that_matches_nothing_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"matches no file"):
        expand_sources([str(tmp_path / "missing" / "*.tif")])


def test_expand_sources_keeps_per_file_encoding(tmp_path):
    for name in ("b.tif", "a.tif"):
        (tmp_path / name).touch()
    sources = expand_sources([str(tmp_path / "*.tif"), {"path": "x.tif", "encoding": "float32"}], "aef-int8")
    assert [source.path.rsplit("/", 1)[-1] for source in sources] == ["a.tif", "b.tif", "x.tif"]
    assert [source.encoding for source in sources] == ["aef-int8", "aef-int8", "float32"]


@pytest.mark.parametrize("bbox", [[-0.5, 51.7, 0.3, 51.3], [0.3, 51.3, -0.5, 51.7], [200, 0, 201, 1], [0, 0, 0, 1]])
def test_malformed_bbox_is_a_config_error(bbox):
    with pytest.raises(ConfigError, match=r"alphaearth.area.bbox .* is not \[west, south, east, north\]"):
        load_area({"bbox": bbox})


def test_boundary_file_without_crs_is_a_config_error(tmp_path):
    path = tmp_path / "area.geojson"
    path.write_text('{"type": "FeatureCollection", "crs": null, "features": []}')
    with pytest.raises(ConfigError, match=r"area\.boundary"):
        load_area({"boundary": str(path)})


def test_boundary_file_gives_bounds_and_shape(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "area.gpkg"
    gpd.GeoDataFrame(geometry=[box(*_utm(ZONE_35, 24.1, 60.0), *_utm(ZONE_35, 24.2, 60.05))], crs=ZONE_35).to_file(path)
    area = load_area({"boundary": str(path)})
    assert area.geometry is not None
    west, south, east, north = area.bounds
    assert west == pytest.approx(24.1, abs=0.01)
    assert north == pytest.approx(60.05, abs=0.01)
    assert str(path) in area.description


def test_working_crs_auto_and_explicit():
    area = Area((-0.5, 51.3, 0.3, 51.7), "London")
    assert working_crs("auto", area, []) == "EPSG:32630"
    assert working_crs("EPSG:27700", area, []) == "EPSG:27700"
    with pytest.raises(ConfigError, match=r"alphaearth.crs: 'EPSG:nonsense'"):
        working_crs("EPSG:nonsense", area, [])


def test_plan_tiles_cover_the_grid_in_whole_chunks():
    grid = Grid(ZONE_35, 0.0, 1000.0, 10.0, 100, 70)
    tiles = plan_tiles(grid, tile=40, chunk=16)  # rounded up to 48 px
    assert {tile.block.height for tile in tiles} == {48, 22}
    assert all(tile.block.row % 16 == 0 and tile.block.col % 16 == 0 for tile in tiles)
    assert sum(tile.block.height * tile.block.width for tile in tiles) == 100 * 70
    assert len({tile.name for tile in tiles}) == len(tiles)


def test_incomplete_tile_is_refused(two_zone_tiles):
    tmp_path, *_ = two_zone_tiles
    write_alphaearth_tif(tmp_path / "one.tif")
    info = inspect_raster(tmp_path / "one.tif")
    from aether.raster.store import create_store

    create_store(tmp_path / "broken.zarr", info.grid, bands=64, encoding=INT8_ENCODING, chunk=16, attrs={"kind": "x"})
    with pytest.raises(InvalidRasterError, match=r"broken\.zarr is not a complete AlphaEarth tile"):
        assemble_tiles([tmp_path / "broken.zarr"], info.grid, tmp_path / "out.zarr", chunk=16, attrs={})
    assert not (tmp_path / "out.zarr").exists()


def test_assembled_chunks_are_links_not_copies(two_zone_tiles):
    tmp_path, *_ = two_zone_tiles
    _, output = _mosaic(tmp_path, expand_sources([str(tmp_path / "*.tif")]), _area_around_border())
    chunk_files = [path for path in (output / "embedding").iterdir() if not path.name.startswith(".")]
    assert chunk_files
    assert all(path.stat().st_nlink == 2 for path in chunk_files)
    with rasterio.open(tmp_path / "east.tif"):  # the inputs are untouched
        pass


def _plan_settings(files, bbox=None, tile=32):
    settings = {"files": files, "crs": "auto", "resolution": 10, "tile": tile, "chunk": 16, "fetch": {}}
    if bbox:
        settings["area"] = {"bbox": list(bbox)}
    return settings


def test_mixed_encodings_share_one_store_encoding(two_zone_tiles):
    from aether.raster.mosaic import plan_mosaic

    tmp_path, *_ = two_zone_tiles
    x, y = _utm(ZONE_35, 24.003, 60.0)
    write_alphaearth_tif(tmp_path / "export.tif", dtype="float32", height=8, width=8, left=round(x, -1), top=round(y, -1))
    plan = plan_mosaic(_plan_settings([str(tmp_path / "*.tif")], _area_around_border().bounds, tile=16))
    assert plan.encoding == FLOAT_ENCODING
    parts = []
    for tile in plan.tiles:  # as the workflow does: each tile job gets only the files it intersects
        part = tmp_path / "parts" / f"{tile.name}.zarr"
        write_tile(plan.tile_sources(tile.name), plan.grid, tile.block, part, chunk=16, encoding=plan.encoding)
        parts.append(part)
    assert any(len(plan.tile_sources(tile.name)) == 1 for tile in plan.tiles)
    assemble_tiles(parts, plan.grid, tmp_path / "mixed.zarr", chunk=16, attrs={})
    assert read_attrs(tmp_path / "mixed.zarr")["encoding"] == FLOAT_ENCODING


def test_plan_rejects_all_nodata_area_before_jobs(tmp_path):
    from aether.raster.mosaic import plan_mosaic

    mask = np.zeros((40, 60), dtype=bool)
    mask[:, 30:] = True
    write_alphaearth_tif(tmp_path / "half.tif", width=60, nodata_mask=mask)
    info = inspect_raster(tmp_path / "half.tif")
    to_lonlat = Transformer.from_crs(info.grid.crs, "EPSG:4326", always_xy=True)
    west, south = to_lonlat.transform(info.grid.left + 350, info.grid.top - 350)
    east, north = to_lonlat.transform(info.grid.left + 550, info.grid.top - 50)
    with pytest.raises(NoDataError, match=r"Every pixel of the area of interest \(bbox .*\) is nodata .*half\.tif"):
        plan_mosaic(_plan_settings([str(tmp_path / "half.tif")], (west, south, east, north)))
    west, _ = to_lonlat.transform(info.grid.left + 150, info.grid.top - 350)
    assert plan_mosaic(_plan_settings([str(tmp_path / "half.tif")], (west, south, east, north))).tiles


def test_plan_finds_a_patch_the_probes_miss(tmp_path):
    from aether.raster.mosaic import plan_mosaic

    mask = np.ones((200, 200), dtype=bool)
    mask[101, 37] = False  # one valid pixel between the probe windows
    write_alphaearth_tif(tmp_path / "sparse.tif", height=200, width=200, nodata_mask=mask)
    assert plan_mosaic(_plan_settings([str(tmp_path / "sparse.tif")])).tiles
