"""Fetching AlphaEarth windows from a mirror served on 127.0.0.1 by the test itself."""

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer

from aether.exceptions import ConfigError, InvalidRasterError, NoDataError
from aether.raster.fetch import fetch_alphaearth, read_manifest
from aether.raster.ingest import inspect_raster
from aether.raster.mosaic import Area
from tests.generators import write_alphaearth_tif
from tests.loopback import serve

YEAR = 2024


def _tile(folder, name, crs, lon, lat, *, seed, bottom_up):
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    path = folder / str(YEAR) / crs.split(":")[1] / f"{name}.tiff"
    path.parent.mkdir(parents=True, exist_ok=True)
    left, top = round(x, -1) - 1000, round(y, -1) + 1000
    values = write_alphaearth_tif(
        path, height=200, width=200, seed=seed, crs=crs, left=left, top=top, bottom_up=bottom_up, tiled=True
    )
    info = inspect_raster(path)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    west, south = to_lonlat.transform(info.grid.bounds[0], info.grid.bounds[1])
    east, north = to_lonlat.transform(info.grid.bounds[2], info.grid.bounds[3])
    row = {
        "path": str(path.relative_to(folder)),
        "year": YEAR,
        "wgs84_west": west,
        "wgs84_south": south,
        "wgs84_east": east,
        "wgs84_north": north,
    }
    return row, values, info


@pytest.fixture
def mirror(tmp_path):
    """A mirror in the public layout: <year>/<zone>/<tile>.tiff, bottom-up tiles, and a CSV index."""
    folder = tmp_path / "mirror"
    rows, tiles = [], {}
    for name, crs, lon, seed in [("east", "EPSG:32635", 24.02, 1), ("west", "EPSG:32634", 23.98, 2), ("far", "EPSG:32634", 21.5, 3)]:
        row, values, info = _tile(folder, name, crs, lon, 60.0, seed=seed, bottom_up=True)
        rows.append(row)
        tiles[name] = (values, info, folder / row["path"])
    old = dict(rows[0], year=YEAR - 1)
    pd.DataFrame(rows + [old]).to_csv(folder / "index.csv", index=False)
    return folder, tiles


SMALL_AREA = Area((23.995, 59.998, 24.025, 60.003), "test box")


def test_fetch_reads_only_windows_of_intersecting_tiles(mirror, tmp_path):
    folder, tiles = mirror
    with serve(folder) as (base, counter):
        files = fetch_alphaearth(
            base + "index.csv", SMALL_AREA, year=YEAR, cache=tmp_path / "cache", manifest=tmp_path / "fetched.json"
        )
    assert len(files) == 2
    assert not any("far" in path for path in counter["paths"])
    assert counter["whole_files"] == ["/index.csv"]  # tiles are read by range requests only
    for path in files:
        with rasterio.open(path) as window:
            assert window.width * window.height < 0.5 * 200 * 200  # a window, not the whole tile
    assert read_manifest(tmp_path / "fetched.json") == [str(path) for path in files]


def test_fetched_window_matches_tile_values(mirror, tmp_path):
    folder, tiles = mirror
    with serve(folder) as (base, _):
        files = fetch_alphaearth(base + "index.csv", SMALL_AREA, year=YEAR, cache=tmp_path / "c", manifest=tmp_path / "m.json")
    east_file = next(path for path in files if path.name.startswith("east"))
    values, info, _ = tiles["east"]
    with rasterio.open(east_file) as dataset:
        assert dataset.transform.e < 0
        assert dataset.dtypes[0] == "int8"
        assert dataset.nodata == -128
        codes = dataset.read()
        local = inspect_raster(east_file).grid
    decoded = np.where(codes == -128, np.nan, np.sign(codes) * (codes / 127.5) ** 2)
    row0 = round((info.grid.top - local.top) / 10)
    col0 = round((local.left - info.grid.left) / 10)
    expected = values[:, row0 : row0 + local.height, col0 : col0 + local.width]
    assert np.allclose(decoded, expected, atol=1e-7)


def test_second_fetch_reads_windows_from_the_cache(mirror, tmp_path):
    folder, _ = mirror
    with serve(folder) as (base, counter):
        fetch_alphaearth(base + "index.csv", SMALL_AREA, year=YEAR, cache=tmp_path / "c", manifest=tmp_path / "a.json")
        first = counter["requests"]
        fetch_alphaearth(base + "index.csv", SMALL_AREA, year=YEAR, cache=tmp_path / "c", manifest=tmp_path / "b.json")
    # The second run only reads the headers of the two tiles again, never their pixels.
    assert counter["requests"] - first <= 4
    assert json.loads((tmp_path / "a.json").read_text())["files"] == json.loads((tmp_path / "b.json").read_text())["files"]


def test_fetch_refuses_an_area_without_tiles(mirror, tmp_path):
    folder, _ = mirror
    with serve(folder) as (base, _), pytest.raises(NoDataError, match=r"No tile of .*index\.csv for the year 2024 .*\[2023, 2024\]"):
        fetch_alphaearth(base + "index.csv", Area((10, 50, 10.1, 50.1), "far box"), year=YEAR, cache=tmp_path, manifest=tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_fetch_names_missing_index_columns(mirror, tmp_path):
    folder, _ = mirror
    with serve(folder) as (base, _), pytest.raises(ConfigError, match=r"no column for path \('url'\).*alphaearth.fetch.columns"):
        fetch_alphaearth(
            base + "index.csv", SMALL_AREA, year=YEAR, cache=tmp_path, manifest=tmp_path / "m.json", columns={"path": "url"}
        )


def test_fetch_reports_an_unreachable_index(tmp_path):
    with serve(tmp_path) as (base, _), pytest.raises(ConfigError, match=r"cannot download .*missing\.csv"):
        fetch_alphaearth(base + "missing.csv", SMALL_AREA, year=YEAR, cache=tmp_path, manifest=tmp_path / "m.json")


def test_fetch_reports_missing_tile(mirror, tmp_path):
    folder, tiles = mirror
    tiles["east"][2].unlink()
    with serve(folder) as (base, _), pytest.raises(InvalidRasterError, match=r"east\.tiff"):
        fetch_alphaearth(base + "index.csv", SMALL_AREA, year=YEAR, cache=tmp_path / "c", manifest=tmp_path / "m.json")


def test_url_in_alphaearth_files_is_read_over_http(mirror, tmp_path):
    from aether.raster.mosaic import assemble_tiles, expand_sources, plan_grid, plan_tiles, working_crs

    folder, tiles = mirror
    values, info, path = tiles["east"]
    with serve(folder) as (base, counter):
        sources = expand_sources([base + str(path.relative_to(folder))])
        assert sources[0].is_remote
        infos = [inspect_raster(source.path) for source in sources]
        grid = plan_grid(infos, SMALL_AREA, working_crs("auto", SMALL_AREA, infos), 10.0)
        tile = plan_tiles(grid, tile=4096, chunk=32)[0]
        from aether.raster.mosaic import write_tile

        write_tile(sources, grid, tile.block, tmp_path / "tile.zarr", chunk=32)
        assemble_tiles([tmp_path / "tile.zarr"], grid, tmp_path / "ae.zarr", chunk=32, attrs={})
    assert counter["whole_files"] == []  # range requests only
    from aether.raster.store import open_embedding

    mosaic = open_embedding(tmp_path / "ae.zarr").values
    row, col = info.grid.rowcol(grid.x_coords()[:1], grid.y_coords()[:1])
    if info.grid.contains(row, col)[0]:
        assert np.allclose(mosaic[:, 0, 0], values[:, row[0], col[0]], atol=1e-7)
    assert (~np.isnan(mosaic[0])).sum() > 100
