"""Evaluation units of a configured task: where they are and what their targets are.

A unit is either a point (its feature is the window mean of an embedding
raster around it) or an area: one cell of a label raster such as the 100 m
or 1 km grids of the CityRep layers, whose feature is the mean over the
embedding pixels inside the cell. The CityRep ``*.samples.parquet`` files
hold one row per labelled cell (its centre as ``x``/``y`` in EPSG:4326 and
its value), so a sample is an area unit whose cell is found in the
matching ``*.labels.tif``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from pyproj import Transformer

from aether.evaluation.labels import merge_small_classes
from aether.evaluation.targets import check_distributions, check_regression_targets
from aether.evaluation.spec import TaskSpec
from aether.exceptions import ConfigError, NoDataError
from aether.io import atomic_output
from aether.raster.grid import Grid

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")


@dataclass(frozen=True)
class CellGrid:
    """The grid of a label raster, in its own CRS (often EPSG:4326)."""

    crs: str
    transform: Affine
    height: int
    width: int

    @classmethod
    def read(cls, path: str | Path) -> CellGrid:
        """Read the grid of a GeoTIFF.

        Raises:
            ConfigError: the file has no CRS or is rotated.
        """
        with rasterio.open(path) as dataset:
            if dataset.crs is None:
                raise ConfigError(f"{path}: the label raster has no CRS; write one into the file (gdal_edit.py -a_srs).")
            transform = dataset.transform
            if transform.b != 0 or transform.d != 0:
                raise ConfigError(f"{path}: the label raster is rotated ({tuple(transform)}); warp it north-up first.")
            return cls(dataset.crs.to_string(), transform, dataset.height, dataset.width)

    def rowcol(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell rows and columns of points given in the grid's CRS; may fall outside the grid."""
        inverse = ~self.transform
        cols = np.floor(inverse.a * x + inverse.b * y + inverse.c).astype(np.int64)
        rows = np.floor(inverse.d * x + inverse.e * y + inverse.f).astype(np.int64)
        return rows, cols

    def corner(self, rows, cols) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of the top-left corner of cells; fractional rows and columns give points inside."""
        t = self.transform
        rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
        return t.c + t.a * cols + t.b * rows, t.f + t.d * cols + t.e * rows

    def contains(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)


def read_label_table(path: str | Path, *, x_column: str, y_column: str, crs: str) -> tuple[pd.DataFrame, str]:
    """Read a table of labelled units with ``x`` and ``y`` columns in ``crs``.

    Point vector files (GeoJSON, GeoPackage, ...) and GeoParquet take their
    coordinates and CRS from the geometry; polygons give their centroid.

    Raises:
        ConfigError: the file is missing, or the coordinate columns are.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: label file not found. Check the labels path of the task in evaluation.tasks.")
    if path.suffix.lower() in VECTOR_SUFFIXES:
        frame = gpd.read_file(path)
    elif path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        if "geometry" in frame.columns and x_column not in frame.columns:
            frame = gpd.read_parquet(path)
    else:
        frame = pd.read_csv(path)
    if isinstance(frame, gpd.GeoDataFrame):
        if frame.crs is None:
            raise ConfigError(f"{path}: the file has no CRS; write one into it.")
        points = frame.geometry.representative_point() if not (frame.geom_type == "Point").all() else frame.geometry
        table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        table["x"], table["y"] = points.x.to_numpy(), points.y.to_numpy()
        return table, frame.crs.to_string()
    missing = [column for column in (x_column, y_column) if column not in frame.columns]
    if missing:
        raise ConfigError(
            f"{path}: coordinate column(s) {missing} not found; the table has {sorted(frame.columns)}. Set x_column "
            "and y_column of the task."
        )
    table = frame.rename(columns={x_column: "x", y_column: "y"}) if (x_column, y_column) != ("x", "y") else frame
    return table, crs


def build_units(
    task: TaskSpec,
    grid: Grid,
    is_valid: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the units table of ``task`` on the embedding ``grid``.

    Point units must lie on a valid pixel. Area units must have their cell
    centre inside the grid; a cell without any valid pixel gets no feature
    and is left out at evaluation time.

    Returns:
        The units (``unit_id``, ``x``/``y`` in the grid CRS, ``lon``/``lat``,
        ``cell_row``/``cell_col`` for area units, then the targets) and a
        report table: the classes for classification, else statistics of
        each target column.

    Raises:
        ConfigError: a target column is missing.
        NoDataError: no unit lies on the grid.
        AetherError: invalid target values.
    """
    table, table_crs = read_label_table(task.labels, x_column=task.x_column, y_column=task.y_column, crs=task.crs)
    missing = [column for column in task.columns if column not in table.columns]
    if missing:
        raise ConfigError(
            f"{task.labels}: target column(s) {missing} of task {task.name!r} not found; the table has "
            f"{sorted(table.columns)}. Fix columns of the task in evaluation.tasks."
        )
    x, y = Transformer.from_crs(table_crs, grid.crs, always_xy=True).transform(
        table["x"].to_numpy(dtype=float), table["y"].to_numpy(dtype=float)
    )
    rows, cols = grid.rowcol(x, y)
    keep = grid.contains(rows, cols)
    if task.units == "point":
        keep[keep] = is_valid(rows[keep], cols[keep])
    logger.info("%s: %d labelled units, %d kept on the embedding raster", Path(task.labels).name, len(table),
                int(keep.sum()))
    if not keep.any():
        raise NoDataError(
            f"{task.labels}: none of the {len(table)} units of task {task.name!r} lies on "
            f"{'a valid pixel of ' if task.units == 'point' else ''}the embedding raster (bounds "
            f"{tuple(round(b) for b in grid.bounds)} in {grid.crs}). Check the task's crs and the raster's area."
        )
    table, x, y = table[keep].reset_index(drop=True), x[keep], y[keep]
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    units = pd.DataFrame({"unit_id": np.arange(len(table)), "x": x, "y": y, "lon": lon, "lat": lat})
    if task.units == "area":
        cells = CellGrid.read(task.cells)
        cx, cy = Transformer.from_crs(table_crs, cells.crs, always_xy=True).transform(
            table["x"].to_numpy(dtype=float), table["y"].to_numpy(dtype=float)
        )
        units["cell_row"], units["cell_col"] = cells.rowcol(cx, cy)
        outside = ~cells.contains(units["cell_row"].to_numpy(), units["cell_col"].to_numpy())
        if outside.any():
            raise ConfigError(
                f"{task.labels}: {int(outside.sum())} units of task {task.name!r} fall outside the cells raster "
                f"{task.cells}. Point cells at the label raster that the samples were taken from."
            )
    targets, report = _targets(task, table)
    return pd.concat([units, targets], axis=1), report


def _targets(task: TaskSpec, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    source = Path(task.labels).name
    if task.type == "classification":
        labels, report = merge_small_classes(table[task.columns[0]].astype(str), task.min_class_points)
        if labels.isna().all():
            raise NoDataError(
                f"{source}: no class of task {task.name!r} has {task.min_class_points} units. Lower min_class_points."
            )
        classes = sorted(labels.dropna().unique())
        label_id = labels.map({label: index for index, label in enumerate(classes)})
        # Units of dropped classes get label_id -1 and are left out at evaluation time.
        return pd.DataFrame({"label": labels, "label_id": label_id.fillna(-1).astype(int)}), report
    values = table[list(task.columns)].to_numpy(dtype=float)
    if task.type == "distribution":
        values = check_distributions(values, source=source, columns=list(task.columns))
    else:
        check_regression_targets(values[:, 0], transform=task.transform, source=source, column=task.columns[0])
    targets = pd.DataFrame(values, columns=list(task.columns))
    report = targets.describe().T.reset_index().rename(columns={"index": "column"})
    return targets, report


def target_values(units: pd.DataFrame, task_type: str, columns: list[str]) -> np.ndarray:
    """The targets of a units table as the evaluation expects them."""
    if task_type == "classification":
        return units["label_id"].to_numpy()
    values = units[columns].to_numpy(dtype=np.float64)
    return values[:, 0] if task_type == "regression" else values


def write_units(units: pd.DataFrame, report: pd.DataFrame, units_path, report_path) -> None:
    """Write the units and the label report as Parquet, atomically."""
    with atomic_output(units_path) as temporary:
        units.to_parquet(temporary, index=False)
    with atomic_output(report_path) as temporary:
        report.to_parquet(temporary, index=False)
