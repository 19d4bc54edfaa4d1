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


def dequantise(codes: np.ndarray, *, dtype: type = np.float32) -> np.ndarray:
    """Decode int8 codes into float values, with NaN where the code is nodata."""
    codes = np.asarray(codes)
    scaled = codes.astype(np.float64) / SCALE
    values = np.sign(scaled) * scaled * scaled
    values[codes == NODATA_CODE] = np.nan
    return values.astype(dtype, copy=False)


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
