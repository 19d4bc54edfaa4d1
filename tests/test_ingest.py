import numpy as np
import pytest
import rasterio
import xarray as xr

from aether.exceptions import InvalidRasterError, NoDataError
from aether.raster.codec import quantise
from aether.raster.ingest import ingest_raster, inspect_raster
from aether.raster.standin import STANDIN_TAG
from aether.raster.store import INT8_ENCODING, FLOAT_ENCODING, open_embedding, read_attrs, store_grid
from tests.generators import TOWN_ORIGIN, smooth_unit_field, write_alphaearth_tif


def test_int8_tile_keeps_codes_and_decodes(tmp_path):
    mask = np.zeros((40, 30), dtype=bool)
    mask[:5, :7] = True
    expected = write_alphaearth_tif(tmp_path / "tile.tif", nodata_mask=mask)
    info = ingest_raster(tmp_path / "tile.tif", tmp_path / "ae.zarr", chunk=16)

    assert info.encoding == INT8_ENCODING
    raw = xr.open_zarr(tmp_path / "ae.zarr", mask_and_scale=False)["embedding"].values
    assert raw.dtype == np.int8
    with rasterio.open(tmp_path / "tile.tif") as dataset:
        assert np.array_equal(raw, dataset.read())
    decoded = open_embedding(tmp_path / "ae.zarr").values
    assert np.array_equal(np.isnan(decoded), np.isnan(expected))
    assert np.allclose(decoded[~np.isnan(decoded)], expected[~np.isnan(expected)], atol=1e-7)


def test_store_is_georeferenced_for_plain_xarray(tmp_path):
    write_alphaearth_tif(tmp_path / "tile.tif")
    ingest_raster(tmp_path / "tile.tif", tmp_path / "ae.zarr")
    array = xr.open_zarr(tmp_path / "ae.zarr")["embedding"]
    assert array.rio.crs.to_string() == "EPSG:32635"
    assert tuple(array.rio.transform())[:6] == (10.0, 0.0, TOWN_ORIGIN[0], 0.0, -10.0, TOWN_ORIGIN[1])
    assert array.dims == ("band", "y", "x")
    assert array.encoding["chunks"][0] == 64


def test_float_export_is_stored_as_float(tmp_path):
    mask = np.zeros((40, 30), dtype=bool)
    mask[10, 10] = True
    expected = write_alphaearth_tif(tmp_path / "export.tif", dtype="float32", nodata_mask=mask)
    info = ingest_raster(tmp_path / "export.tif", tmp_path / "ae.zarr")
    assert info.encoding == FLOAT_ENCODING
    decoded = open_embedding(tmp_path / "ae.zarr").values
    assert np.isnan(decoded[:, 10, 10]).all()
    assert np.allclose(decoded[:, 0, 0], expected[:, 0, 0], atol=1e-6)


def test_float_export_zero_vectors_are_nodata(tmp_path):
    values = smooth_unit_field(40, 30, seed=3)
    values[:, 2, 3] = 0.0
    write_alphaearth_tif(tmp_path / "export.tif", dtype="float32", values=values)
    ingest_raster(tmp_path / "export.tif", tmp_path / "ae.zarr")
    assert np.isnan(open_embedding(tmp_path / "ae.zarr").values[:, 2, 3]).all()


def test_bottom_up_tile_matches_top_down(tmp_path):
    mask = np.zeros((40, 30), dtype=bool)
    mask[0, :] = True
    write_alphaearth_tif(tmp_path / "down.tif", nodata_mask=mask, seed=4)
    write_alphaearth_tif(tmp_path / "up.tif", nodata_mask=mask, seed=4, bottom_up=True)
    ingest_raster(tmp_path / "down.tif", tmp_path / "down.zarr", chunk=16)
    info = ingest_raster(tmp_path / "up.tif", tmp_path / "up.zarr", chunk=16)

    assert info.bottom_up
    down, up = open_embedding(tmp_path / "down.zarr"), open_embedding(tmp_path / "up.zarr")
    assert store_grid(up) == store_grid(down)
    assert np.array_equal(up.values, down.values, equal_nan=True)
    # The masked first row is the northern edge in both.
    assert np.isnan(up.values[:, 0, :]).all()


def test_standin_tag_reaches_store_attributes(tmp_path):
    write_alphaearth_tif(tmp_path / "standin.tif", tags={STANDIN_TAG: "true"})
    ingest_raster(tmp_path / "standin.tif", tmp_path / "ae.zarr")
    assert read_attrs(tmp_path / "ae.zarr")["standin"] is True


def test_rejects_wrong_band_count(tmp_path):
    write_alphaearth_tif(tmp_path / "rgb.tif", bands=3, values=np.ones((3, 4, 4)) / np.sqrt(3))
    with pytest.raises(InvalidRasterError, match=r"rgb\.tif: found 3 bands, but AlphaEarth embeddings have 64"):
        ingest_raster(tmp_path / "rgb.tif", tmp_path / "ae.zarr")
    assert not (tmp_path / "ae.zarr").exists()


def test_rejects_missing_crs(tmp_path):
    write_alphaearth_tif(tmp_path / "nocrs.tif", write_crs=False)
    with pytest.raises(InvalidRasterError, match="has no CRS. Assign the CRS"):
        inspect_raster(tmp_path / "nocrs.tif")


def test_rejects_int8_codes_passed_as_float(tmp_path):
    codes = quantise(smooth_unit_field(20, 20, seed=1)).astype(np.float32)
    write_alphaearth_tif(tmp_path / "codes.tif", dtype="float32", values=codes)
    with pytest.raises(InvalidRasterError, match="int8 codes of the public tiles stored as float"):
        ingest_raster(tmp_path / "codes.tif", tmp_path / "ae.zarr")
    assert not (tmp_path / "ae.zarr").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "codes.tif"]


def test_codes_as_float_pass_with_encoding_override(tmp_path):
    field = smooth_unit_field(20, 20, seed=1)
    codes = quantise(field).astype(np.float32)
    write_alphaearth_tif(tmp_path / "codes.tif", dtype="float32", values=codes)
    ingest_raster(tmp_path / "codes.tif", tmp_path / "ae.zarr", encoding="aef-int8")
    assert np.allclose(open_embedding(tmp_path / "ae.zarr").values, field, atol=0.01)


def test_rejects_scaled_float_export(tmp_path):
    write_alphaearth_tif(tmp_path / "scaled.tif", dtype="float32", values=0.5 * smooth_unit_field(20, 20, seed=2))
    with pytest.raises(InvalidRasterError, match=r"not unit length \(median norm 0\.5"):
        ingest_raster(tmp_path / "scaled.tif", tmp_path / "ae.zarr")


def test_rejects_all_nodata(tmp_path):
    write_alphaearth_tif(tmp_path / "empty.tif", nodata_mask=np.ones((40, 30), dtype=bool))
    with pytest.raises(NoDataError, match="every pixel is nodata"):
        ingest_raster(tmp_path / "empty.tif", tmp_path / "ae.zarr")
    assert not (tmp_path / "ae.zarr").exists()


def test_rejects_unsigned_data(tmp_path):
    path = tmp_path / "uint16.tif"
    with rasterio.open(path, "w", driver="GTiff", dtype="uint16", count=64, width=4, height=4, crs="EPSG:32635",
                       transform=rasterio.Affine(10, 0, 0, 0, -10, 40)) as dataset:
        dataset.write(np.ones((64, 4, 4), dtype=np.uint16))
    with pytest.raises(InvalidRasterError, match="data type uint16 is neither int8 codes nor float values"):
        inspect_raster(path)


def test_rejects_unknown_encoding(tmp_path):
    write_alphaearth_tif(tmp_path / "tile.tif")
    with pytest.raises(InvalidRasterError, match="unknown encoding 'int4'"):
        inspect_raster(tmp_path / "tile.tif", encoding="int4")


def test_rejects_missing_file(tmp_path):
    with pytest.raises(InvalidRasterError, match="AlphaEarth raster not found"):
        inspect_raster(tmp_path / "missing.tif")


def test_rejects_rotated_grid(tmp_path):
    path = tmp_path / "rotated.tif"
    with rasterio.open(path, "w", driver="GTiff", dtype="int8", count=64, width=4, height=4, crs="EPSG:32635",
                       transform=rasterio.Affine(10, 1, 0, 1, -10, 40)) as dataset:
        dataset.write(np.ones((64, 4, 4), dtype=np.int8))
    with pytest.raises(InvalidRasterError, match="rotated or its pixels are not square"):
        inspect_raster(path)


def test_failed_ingest_keeps_previous_store(tmp_path):
    write_alphaearth_tif(tmp_path / "good.tif")
    ingest_raster(tmp_path / "good.tif", tmp_path / "ae.zarr")
    before = open_embedding(tmp_path / "ae.zarr").values
    write_alphaearth_tif(tmp_path / "bad.tif", dtype="float32", values=0.5 * smooth_unit_field(20, 20, seed=2))
    with pytest.raises(InvalidRasterError):
        ingest_raster(tmp_path / "bad.tif", tmp_path / "ae.zarr")
    assert np.array_equal(open_embedding(tmp_path / "ae.zarr").values, before, equal_nan=True)


def test_standin_layers_reach_store_attributes(tmp_path):
    layers = '["city.lst.2024.labels.tif", "city.pm25.2022.labels.tif"]'
    write_alphaearth_tif(tmp_path / "standin.tif", tags={STANDIN_TAG: "true", "AETHER_STANDIN_LAYERS": layers})
    ingest_raster(tmp_path / "standin.tif", tmp_path / "ae.zarr")
    assert read_attrs(tmp_path / "ae.zarr")["standin_layers"] == ["city.lst.2024.labels.tif", "city.pm25.2022.labels.tif"]
