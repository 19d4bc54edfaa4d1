"""The unchanged workflow on real input forms: int8 public-format tiles in two UTM zones and a float export.

The tiles are cut from the toy town's stand-in, so the POIs and labels of the
town still fit them. The western half stays in zone 35N but is stored
bottom-up, as some mirrors do. The eastern half is reprojected into zone 34N.
The float export is the whole raster de-quantised and reprojected to the
Finnish national grid (EPSG:3067), as a user could export it from Earth Engine.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
import yaml
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from aether.raster.codec import NODATA_CODE, dequantise
from aether.raster.standin import build_standin
from aether.raster.store import open_embedding, store_grid
from tests.generators import toy_town
from tests.test_workflow import reduced_config, snakemake, write_config

CITY = "town"


def _write(path, data, crs, transform, nodata, tags):
    profile = {
        "driver": "GTiff",
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": data.dtype,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
        # The tiles are cut from the stand-in and keep its tags, so the store still records that it is one.
        dataset.update_tags(**tags)


def _reprojected(codes, source_crs, source_transform, crs, nodata):
    height, width = codes.shape[1:]
    left, top = source_transform.c, source_transform.f
    bounds = (left, top + source_transform.e * height, left + source_transform.a * width, top)
    transform, out_width, out_height = calculate_default_transform(
        source_crs, crs, width, height, *bounds, resolution=10.0
    )
    out = np.full((codes.shape[0], out_height, out_width), nodata, dtype=codes.dtype)
    reproject(
        codes,
        out,
        src_transform=source_transform,
        src_crs=source_crs,
        dst_transform=transform,
        dst_crs=crs,
        resampling=Resampling.nearest,
        src_nodata=nodata,
        dst_nodata=nodata,
    )
    return out, transform


@pytest.fixture(scope="module")
def town_inputs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiles")
    osm_path = toy_town(workdir / "town.osm.pbf")
    build_standin(osm_path, workdir / "standin.tif")
    with rasterio.open(workdir / "standin.tif") as dataset:
        codes, crs, transform, tags = dataset.read(), dataset.crs, dataset.transform, dataset.tags()
        lonlat = transform_bounds(crs, "EPSG:4326", *dataset.bounds)
    half = codes.shape[2] // 2

    (workdir / "tiles").mkdir()
    west = codes[:, :, :half]
    bottom = transform.f + transform.e * codes.shape[1]
    bottom_up = rasterio.Affine(transform.a, 0, transform.c, 0, -transform.e, bottom)
    _write(workdir / "tiles" / "west_35N.tif", west[:, ::-1, :], crs, bottom_up, NODATA_CODE, tags)
    east_transform = transform @ rasterio.Affine.translation(half, 0)
    east, zone34_transform = _reprojected(codes[:, :, half:], crs, east_transform, "EPSG:32634", NODATA_CODE)
    _write(workdir / "tiles" / "east_34N.tif", east, "EPSG:32634", zone34_transform, NODATA_CODE, tags)

    values = dequantise(codes)
    exported, export_transform = _reprojected(values, crs, transform, "EPSG:3067", np.nan)
    _write(workdir / "export_3067.tif", exported.astype(np.float32), "EPSG:3067", export_transform, np.nan, tags)
    return workdir, osm_path, lonlat


def test_workflow_runs_unchanged_on_two_zone_int8_tiles(town_inputs):
    workdir, osm_path, lonlat = town_inputs
    config = reduced_config(osm_path)
    config["alphaearth"].update(files=["tiles/*.tif"], area={"bbox": list(lonlat)}, tile=64)
    write_config(workdir, config)
    result = snakemake("--cores", "2", workdir=workdir)
    assert "alphaearth_tile" in result.stdout + result.stderr

    store = workdir / f"results/{CITY}/alphaearth/alphaearth.zarr"
    plain = xr.open_zarr(store, mask_and_scale=False)["embedding"]
    assert plain.rio.crs.to_string() == "EPSG:32635"  # the UTM zone of the area's centre
    assert plain.dtype == np.int8
    array = open_embedding(store)
    grid = store_grid(array)
    values = array.values
    valid = ~np.isnan(values[0])
    assert np.allclose(np.linalg.norm(values[:, valid], axis=0), 1.0, atol=0.02)
    assert array.attrs["standin"] is True  # the tiles came from the stand-in, and the store records it
    assert len(array.attrs["source_files"]) == 2
    with rasterio.open(workdir / "standin.tif") as dataset:
        standin = dequantise(dataset.read())
        xs = dataset.bounds.left + 5.0 + 10.0 * np.arange(dataset.width)
        ys = dataset.bounds.top - 5.0 - 10.0 * np.arange(dataset.height)
    # Every stand-in pixel is in the mosaic (the resampled half may gain or lose a few at its edges).
    standin_valid = ~np.isnan(standin[0])
    assert abs(int(valid.sum()) - int(standin_valid.sum())) < 0.03 * standin_valid.sum()
    # The west tile is in the working zone: its pixels are copied exactly, flipped back to north-up.
    half = standin.shape[2] // 2
    rows, cols = grid.rowcol(*np.meshgrid(xs[:half], ys))
    assert np.array_equal(np.isnan(values[0, rows, cols]), ~standin_valid[:, :half])
    assert np.allclose(np.nan_to_num(values[:, rows, cols]), np.nan_to_num(standin[:, :, :half]), atol=1e-7)
    # The whole workflow ran to its end on the mosaic.
    assert (workdir / f"results/{CITY}/evaluation/summary.parquet").exists()
    assert (workdir / f"results/{CITY}/aether/aether.zarr").exists()
    assert not list((workdir / f"results/{CITY}/alphaearth").glob("tiles/*.zarr"))  # temporary tiles removed


def test_workflow_takes_a_float_export_in_another_crs(town_inputs):
    workdir, osm_path, lonlat = town_inputs
    config = reduced_config(osm_path)
    config["city"] = "export"
    config["alphaearth"].update(files=["export_3067.tif"])
    (workdir / "export.yaml").write_text(yaml.safe_dump(config))
    snakemake(
        "--cores", "2", "results/export/training/views.parquet", "--configfile", str(workdir / "export.yaml"), workdir=workdir
    )
    array = open_embedding(workdir / "results/export/alphaearth/alphaearth.zarr")
    assert array.attrs["encoding"] == "float32"
    assert array.rio.crs.to_string() == "EPSG:32635"
    values = array.values
    valid = ~np.isnan(values[0])
    assert valid.sum() > 1000
    assert np.allclose(np.linalg.norm(values[:, valid], axis=0), 1.0, atol=0.02)
