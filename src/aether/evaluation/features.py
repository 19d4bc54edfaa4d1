"""Unit features: embedding rasters pooled over points or cells, and a POI count baseline.

Every feature row is L2-normalised. A point unit takes the mean of the
(2r+1)^2 window around it; an area unit takes the mean over the embedding
pixels whose centre falls inside its label cell. Nodata pixels are left out
of both means; a unit without a valid pixel gets a row of NaN, which the
evaluation leaves out.

The POI baseline counts the POIs of each class (or category) in the same
window or cell. A unit without POIs keeps a row of zeros: no POI nearby is
information, not missing data.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import scipy.sparse
import xarray as xr
from pyproj import Transformer
from scipy.spatial import cKDTree

from aether.evaluation.units import CellGrid
from aether.exceptions import ConfigError
from aether.logs import progress
from aether.raster.grid import Grid
from aether.raster.store import WindowReader, store_chunk, store_grid
from aether.training.views import l2_normalise, pool_points

logger = logging.getLogger(__name__)


def point_features(array: xr.DataArray, x: np.ndarray, y: np.ndarray, *, radius: int) -> np.ndarray:
    """Return ``(n, bands)`` unit features: the mean over the (2r+1)^2 window around each point.

    Rows whose window contains no valid pixel are NaN.
    """
    vectors, _ = pool_points(array, x, y, [radius], desc="features")[radius]
    return vectors


def area_features(array: xr.DataArray, cells: CellGrid, cell_row: np.ndarray, cell_col: np.ndarray) -> np.ndarray:
    """Return ``(n, bands)`` unit features: the mean over the embedding pixels inside each unit's cell.

    A pixel belongs to the cell that contains its centre, after projecting
    the centre into the cells' CRS, so cells of a lon/lat grid are matched
    exactly even on a UTM embedding raster. The raster is read block by
    block, and only the blocks that overlap the units' cells.
    """
    grid, chunk = store_grid(array), store_chunk(array)
    keys = np.asarray(cell_row, dtype=np.int64) * cells.width + np.asarray(cell_col, dtype=np.int64)
    unique_keys, unit_cell = np.unique(keys, return_inverse=True)
    lookup = np.full(cells.height * cells.width, -1, dtype=np.int64)
    lookup[unique_keys] = np.arange(len(unique_keys))
    bands = array.sizes["band"]
    sums = np.zeros((len(unique_keys), bands))
    counts = np.zeros(len(unique_keys))
    to_cells = Transformer.from_crs(grid.crs, cells.crs, always_xy=True)
    reader = WindowReader(array, cache_chunks=1)
    for row_start, col_start in progress(list(_overlapping_blocks(grid, chunk, cells, unique_keys)),
                                         desc="cells", unit="block"):
        rows = np.arange(row_start, min(row_start + chunk, grid.height))
        cols = np.arange(col_start, min(col_start + chunk, grid.width))
        x, y = np.meshgrid(grid.x_coords()[cols], grid.y_coords()[rows])
        cell_rows, cell_cols = cells.rowcol(*to_cells.transform(x.ravel(), y.ravel()))
        inside = cells.contains(cell_rows, cell_cols)
        index = np.full(inside.shape, -1, dtype=np.int64)
        index[inside] = lookup[cell_rows[inside] * cells.width + cell_cols[inside]]
        values = reader.read(rows[0], rows[-1] + 1, cols[0], cols[-1] + 1).reshape(bands, -1)
        use = (index >= 0) & ~np.isnan(values[0])
        if not use.any():
            continue
        membership = scipy.sparse.csr_matrix(
            (np.ones(int(use.sum())), (index[use], np.arange(int(use.sum())))), shape=(len(unique_keys), int(use.sum()))
        )
        sums += membership @ values[:, use].T.astype(np.float64)
        counts += np.bincount(index[use], minlength=len(unique_keys))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    means[counts == 0] = np.nan
    logger.info("Cell means over %d cells: median %d valid pixels per cell, %d cells without any",
                len(unique_keys), int(np.median(counts)), int((counts == 0).sum()))
    return l2_normalise(means[unit_cell]).astype(np.float32)


def _overlapping_blocks(grid: Grid, chunk: int, cells: CellGrid, keys: np.ndarray):
    """Top-left corners of the chunk-aligned blocks that overlap the bounding box of the cells in ``keys``."""
    rows, cols = keys // cells.width, keys % cells.width
    corner_x, corner_y = [], []
    for row_edge in (rows.min(), rows.max() + 1):
        for col_edge in (cols.min(), cols.max() + 1):
            x, y = cells.corner(row_edge, col_edge)
            corner_x.append(x)
            corner_y.append(y)
    # Cell edges are curved in the grid CRS; a margin of one block covers the bulge.
    x, y = Transformer.from_crs(cells.crs, grid.crs, always_xy=True).transform(corner_x, corner_y)
    first_row, first_col = grid.rowcol(np.array([min(x)]), np.array([max(y)]))
    last_row, last_col = grid.rowcol(np.array([max(x)]), np.array([min(y)]))
    row_from = max(0, (int(first_row[0]) // chunk - 1) * chunk)
    col_from = max(0, (int(first_col[0]) // chunk - 1) * chunk)
    row_to, col_to = min(grid.height, int(last_row[0]) + chunk + 1), min(grid.width, int(last_col[0]) + chunk + 1)
    for row in range(row_from, row_to, chunk):
        for col in range(col_from, col_to, chunk):
            yield row, col


def poi_counts_at_points(
    pois: pd.DataFrame, grid: Grid, x: np.ndarray, y: np.ndarray, *, radius: int, column: str
) -> tuple[np.ndarray, list[str]]:
    """Count the POIs of each value of ``column`` in the (2r+1)^2 pixel window around each point.

    POIs and points are given in the grid CRS; a POI counts when its pixel is
    inside the point's window, the same pixels that :func:`point_features` averages.

    Returns:
        ``(n, k)`` counts and the ``k`` sorted values of ``column``.
    """
    values = _poi_values(pois, column)
    names = sorted(values.unique())
    unit_rows, unit_cols = grid.rowcol(x, y)
    poi_rows, poi_cols = grid.rowcol(pois["x"].to_numpy(), pois["y"].to_numpy())
    units = np.column_stack([unit_rows, unit_cols])
    counts = np.zeros((len(units), len(names)), dtype=np.float32)
    for index, name in enumerate(names):
        members = (values == name).to_numpy()
        tree = cKDTree(np.column_stack([poi_rows[members], poi_cols[members]]))
        # Integer pixel offsets: a Chebyshev distance of at most r is the window; +0.5 guards rounding.
        counts[:, index] = tree.query_ball_point(units, r=radius + 0.5, p=np.inf, return_length=True)
    return counts, names


def poi_counts_in_cells(
    pois: pd.DataFrame, grid: Grid, cells: CellGrid, cell_row: np.ndarray, cell_col: np.ndarray, *, column: str
) -> tuple[np.ndarray, list[str]]:
    """Count the POIs of each value of ``column`` inside each unit's cell (POIs given in the grid CRS)."""
    values = _poi_values(pois, column)
    names = sorted(values.unique())
    px, py = Transformer.from_crs(grid.crs, cells.crs, always_xy=True).transform(
        pois["x"].to_numpy(), pois["y"].to_numpy()
    )
    rows, cols = cells.rowcol(px, py)
    inside = cells.contains(rows, cols)
    table = pd.crosstab(rows[inside] * cells.width + cols[inside], values.to_numpy()[inside])
    table = table.reindex(columns=names, fill_value=0)
    keys = np.asarray(cell_row, dtype=np.int64) * cells.width + np.asarray(cell_col, dtype=np.int64)
    return table.reindex(keys, fill_value=0).to_numpy(dtype=np.float32), names


def _poi_values(pois: pd.DataFrame, column: str) -> pd.Series:
    if column not in pois.columns:
        raise ConfigError(
            f"The POI table has no column {column!r} to count by; it has {sorted(pois.columns)}. Set "
            "evaluation.poi_baseline.column to class or category."
        )
    return pois[column].fillna("unknown").astype(str).reset_index(drop=True)


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """L2-normalise each row; rows of zeros stay zero and rows with NaN stay NaN."""
    return l2_normalise(np.asarray(matrix, dtype=np.float32)).astype(np.float32)


def concatenate_features(*parts: np.ndarray) -> np.ndarray:
    """Join unit-normalised feature blocks side by side and normalise each joined row again.

    A row that is NaN in any part stays NaN, so the unit is left out.
    """
    joined = np.hstack([normalise_rows(part) for part in parts])
    missing = np.isnan(joined).any(axis=1)
    joined = normalise_rows(np.nan_to_num(joined))
    joined[missing] = np.nan
    return joined
