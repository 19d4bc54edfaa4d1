"""Pooled views of an embedding raster around points.

AETHER pools two views of AlphaEarth around every POI: a base view, the mean
over the (2r+1) x (2r+1) window with r = 4 (90 m at 10 m pixels), and an
augmented view with r = 9 (190 m). Nodata pixels are left out of the mean,
the part of a window beyond the raster edge counts as nodata, and each pooled
vector is L2-normalised.

Pooling works block by block. It reads one chunk-aligned block of the raster
plus a halo of the largest radius and builds summed-area tables of the values
and of the valid-pixel counts. Every window sum of every point in the block
then comes from four table entries. Memory stays bounded by one block,
whatever the number of points, and there is no per-point Python loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from aether.exceptions import NoDataError
from aether.io import write_vector_table
from aether.logs import progress
from aether.raster.store import WindowReader, store_chunk, store_grid

logger = logging.getLogger(__name__)


def _summed_area(values: np.ndarray) -> np.ndarray:
    """Return the summed-area table of ``(..., H, W)`` with a leading zero row and column."""
    table = np.zeros(values.shape[:-2] + (values.shape[-2] + 1, values.shape[-1] + 1), dtype=np.float64)
    np.cumsum(values, axis=-2, out=table[..., 1:, 1:])
    np.cumsum(table[..., 1:, 1:], axis=-1, out=table[..., 1:, 1:])
    return table


def _window_sums(table: np.ndarray, rows: np.ndarray, cols: np.ndarray, radius: int) -> np.ndarray:
    """Sum ``table``'s source over the windows of ``radius`` centred on local ``(rows, cols)``."""
    top, bottom = rows - radius, rows + radius + 1
    left, right = cols - radius, cols + radius + 1
    return table[..., bottom, right] - table[..., top, right] - table[..., bottom, left] + table[..., top, left]


def pool_block(
    values: np.ndarray, rows: np.ndarray, cols: np.ndarray, radii: Sequence[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Pool windows of a padded block.

    Args:
        values: ``(bands, H, W)`` float array with NaN as nodata; it must
            extend at least ``max(radii)`` pixels beyond every point.
        rows, cols: point positions inside ``values``.
        radii: window radii in pixels.

    Returns:
        Per radius, the ``(n, bands)`` window means (NaN where a window has
        no valid pixel) and the ``(n,)`` valid-pixel counts.
    """
    valid = ~np.isnan(values[0])
    value_table = _summed_area(np.where(valid, values, 0.0))
    count_table = _summed_area(valid.astype(np.float64))
    pooled = {}
    for radius in radii:
        sums = _window_sums(value_table, rows, cols, radius).T
        counts = _window_sums(count_table, rows, cols, radius)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / counts[:, None]
        means[counts == 0] = np.nan
        pooled[radius] = (means, counts.astype(np.int64))
    return pooled


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length; rows of zeros or NaN stay as they are."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, vectors / norms, vectors)


def pool_points(
    array: xr.DataArray,
    x: np.ndarray,
    y: np.ndarray,
    radii: Sequence[int],
    *,
    normalise: bool = True,
    desc: str = "pool",
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Pool windows of ``radii`` pixels around points given in the raster CRS.

    Points outside the grid get NaN vectors and zero counts.

    Returns:
        Per radius, ``(n, bands)`` pooled vectors (L2-normalised when
        ``normalise``) and ``(n,)`` counts of the valid pixels averaged.
    """
    grid = store_grid(array)
    chunk = store_chunk(array)
    pad = max(radii)
    rows, cols = grid.rowcol(x, y)
    inside = grid.contains(rows, cols)
    bands = array.sizes["band"]
    results = {
        radius: (np.full((len(rows), bands), np.nan, dtype=np.float32), np.zeros(len(rows), dtype=np.int64))
        for radius in radii
    }
    frame = pd.DataFrame({"row": rows, "col": cols, "block_row": rows // chunk, "block_col": cols // chunk})
    groups = frame[inside].groupby(["block_row", "block_col"]).indices
    inside_index = np.flatnonzero(inside)
    reader = WindowReader(array)
    for (block_row, block_col), members in progress(groups.items(), desc=desc, total=len(groups), unit="block"):
        index = inside_index[members]
        row_range = slice(block_row * chunk, min((block_row + 1) * chunk, grid.height))
        col_range = slice(block_col * chunk, min((block_col + 1) * chunk, grid.width))
        values = reader.read(row_range.start - pad, row_range.stop + pad, col_range.start - pad, col_range.stop + pad)
        local_rows = rows[index] - row_range.start + pad
        local_cols = cols[index] - col_range.start + pad
        for radius, (means, counts) in pool_block(values, local_rows, local_cols, radii).items():
            results[radius][0][index] = l2_normalise(means) if normalise else means
            results[radius][1][index] = counts
    return results


def sample_views(
    array: xr.DataArray,
    pois: pd.DataFrame,
    output: str | Path,
    *,
    base_radius: int = 4,
    augmented_radius: int = 9,
) -> pd.DataFrame:
    """Pool the base and augmented views of every POI and write them to Parquet.

    POIs whose base window contains no valid pixel are dropped and counted.

    Returns:
        The scalar columns written: ``poi_id``, ``x``, ``y`` and the valid
        pixel counts of both windows.
    """
    radii = (base_radius, augmented_radius)
    pooled = pool_points(array, pois["x"].to_numpy(), pois["y"].to_numpy(), radii, desc="views")
    base, base_counts = pooled[base_radius]
    augmented, augmented_counts = pooled[augmented_radius]
    keep = base_counts > 0
    dropped = int((~keep).sum())
    if dropped:
        logger.warning("Dropping %d POIs whose %dx%d base window has no valid pixel", dropped, *(2 * base_radius + 1,) * 2)
    if not keep.any():
        raise NoDataError(f"No POI has a valid pixel within {base_radius} pixels; the views table would be empty.")

    table = pd.DataFrame(
        {
            "poi_id": pois["poi_id"].to_numpy()[keep],
            "x": pois["x"].to_numpy()[keep],
            "y": pois["y"].to_numpy()[keep],
            "base_valid_pixels": base_counts[keep],
            "augmented_valid_pixels": augmented_counts[keep],
        }
    )
    write_vector_table(
        output,
        table,
        {"base": base[keep], "augmented": augmented[keep]},
        metadata={"base_radius": str(base_radius), "augmented_radius": str(augmented_radius)},
    )
    logger.info("Views of %d POIs: base radius %d px, augmented radius %d px", len(table), *radii)
    return table
