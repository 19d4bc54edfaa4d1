import numpy as np
import pandas as pd
import pytest

from aether.raster.codec import BAND_NAMES, NODATA_CODE, dequantise, quantise


def test_dequantise_follows_public_formula():
    codes = np.array([-127, -64, -1, 0, 1, 64, 127], dtype=np.int8)
    expected = np.sign(codes) * (codes / 127.5) ** 2
    assert np.allclose(dequantise(codes, dtype=np.float64), expected, rtol=0, atol=1e-15)


def test_dequantise_marks_nodata_as_nan():
    values = dequantise(np.array([NODATA_CODE, 5], dtype=np.int8))
    assert np.isnan(values[0])
    assert not np.isnan(values[1])


def test_quantise_round_trips_every_code():
    codes = np.arange(-127, 128, dtype=np.int8)
    assert np.array_equal(quantise(dequantise(codes, dtype=np.float64)), codes)


def test_quantise_maps_nan_to_nodata_and_clips():
    codes = quantise(np.array([np.nan, 2.0, -2.0]))
    assert codes.tolist() == [NODATA_CODE, 127, -127]


def test_codec_exact_on_real_alphaearth_vectors(shared_data):
    for path in sorted((shared_data / "alphaearth_points").glob("*.csv")):
        values = pd.read_csv(path, usecols=list(BAND_NAMES)).to_numpy()
        codes = quantise(values)
        assert np.array_equal(dequantise(codes, dtype=np.float64), values), path.name
        norms = np.linalg.norm(values, axis=1)
        assert np.all(np.abs(norms - 1) < 0.01), path.name


@pytest.mark.parametrize("seed", [0, 1])
def test_quantise_keeps_unit_vectors_near_unit(seed):
    vectors = np.random.default_rng(seed).standard_normal((500, 64))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    decoded = dequantise(quantise(vectors), dtype=np.float64)
    assert np.max(np.abs(np.linalg.norm(decoded, axis=1) - 1)) < 0.02
