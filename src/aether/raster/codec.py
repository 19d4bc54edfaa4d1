"""The int8 quantisation of the public AlphaEarth tiles.

The public Cloud-Optimised GeoTIFF mirrors of the AlphaEarth Foundations
Satellite Embedding dataset store each of the 64 components as a signed byte
``q`` in [-127, 127], with ``-128`` marking nodata, and the value is recovered
as ``v = sign(q) * (q / 127.5) ** 2``. The square gives small components a
finer step than large ones.
"""

from __future__ import annotations

import numpy as np

NODATA_CODE = -128
SCALE = 127.5
MAX_CODE = 127
EMBEDDING_DIM = 64
BAND_NAMES = tuple(f"A{i:02d}" for i in range(EMBEDDING_DIM))
DEQUANTISATION = "v = sign(q) * (q / 127.5) ** 2; q = -128 is nodata"


def _decoding_table() -> np.ndarray:
    codes = np.arange(-128, 128, dtype=np.float64)
    values = np.sign(codes) * (codes / SCALE) ** 2
    values[0] = np.nan
    # Reorder so that the table is indexed by the code's unsigned byte (0..127, then -128..-1).
    return np.concatenate([values[128:], values[:128]])


_DECODING_TABLE = _decoding_table()


def dequantise(codes: np.ndarray, *, dtype: type = np.float32) -> np.ndarray:
    """Decode int8 codes into float values, with NaN where the code is nodata.

    Decoding is a lookup in a 256-entry table computed in float64, so the
    result equals the formula exactly and costs one gather per value.
    """
    codes = np.asarray(codes)
    if codes.dtype.kind == "f":
        codes = np.where(np.isnan(codes), NODATA_CODE, codes)
    codes = codes.astype(np.int8, copy=False)
    return _DECODING_TABLE.astype(dtype)[codes.view(np.uint8)]


def quantise(values: np.ndarray) -> np.ndarray:
    """Encode float values into int8 codes, with the nodata code where a value is NaN.

    Values on the code grid (such as real AlphaEarth values that were decoded
    from codes) encode back to exactly the codes they came from.
    """
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    magnitude = np.sqrt(np.abs(np.where(missing, 0.0, values))) * SCALE
    codes = np.sign(values) * np.minimum(np.rint(magnitude), MAX_CODE)
    codes = np.where(missing, NODATA_CODE, codes)
    return codes.astype(np.int8)
