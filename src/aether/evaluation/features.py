"""Unit embeddings at evaluation points: the window mean of an embedding raster, L2-normalised."""

from __future__ import annotations

import numpy as np
import xarray as xr

from aether.training.views import pool_points


def point_features(array: xr.DataArray, x: np.ndarray, y: np.ndarray, *, radius: int) -> np.ndarray:
    """Return ``(n, bands)`` unit features: the mean over the (2r+1)^2 window around each point.

    Rows whose window contains no valid pixel are NaN.
    """
    vectors, _ = pool_points(array, x, y, [radius], desc="features")[radius]
    return vectors
