"""Land-use labels from the OSM land-use polygons of an extract, sampled to points.

The polygons are rasterised onto the embedding grid (a pixel takes the class
of the smallest polygon that contains its centre, since nested polygons are
usually more specific) and sampled every ``spacing`` metres, snapped to a
whole number of pixels. Classes with too
few points for a train/validation/test split are merged into ``other``, and
dropped when even the merged class stays too small; the log lists each
decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from pyproj import Transformer

from aether import duck, osm
from aether.exceptions import ConfigError, NoDataError
from aether.io import atomic_output
from aether.raster.grid import Grid

logger = logging.getLogger(__name__)

OTHER = "other"


def read_landuse_polygons(pbf_path: str | Path, crs: str, *, key: str = "landuse") -> gpd.GeoDataFrame:
    """Read the polygons tagged ``key`` (ways and multipolygons), with their first value as ``label``."""
    connection = duck.connect()
    osm.load_osm(connection, pbf_path)
    sql = f"""
        SELECT element || '/' || id AS osm_id,
               lower(trim(split_part(tags['{key}'], ';', 1))) AS label,
               geom
        FROM osm_areas WHERE tags['{key}'] IS NOT NULL AND trim(tags['{key}']) <> ''
    """
    return osm.query_geodataframe(connection, sql, crs)


def layer_key(path: str | Path) -> str:
    """Name a data layer independently of its form: ``city.population.2024.samples.parquet`` and
    ``city.population.2024.labels.tif`` both give ``city.population.2024``."""
    name = Path(path).name
    for suffix in (".parquet", ".tiff", ".tif", ".csv", ".geojson", ".gpkg"):
        name = name.removesuffix(suffix)
    for suffix in (".samples", ".labels"):
        name = name.removesuffix(suffix)
    return name


def check_not_standin_input(
    label_paths: str | Path | Sequence[str | Path], standin_layers: Sequence[str], *, task: str = "landuse"
) -> None:
    """Reject labels that come from a layer the AlphaEarth stand-in was built from.

    A task may read several files (a samples table and its label raster);
    each is compared with every stand-in layer by layer name, so the table
    ``x.population.2024.samples.parquet`` clashes with the layer
    ``x.population.2024.labels.tif``.

    Raises:
        ConfigError: naming both files, the task and the configuration keys to change.
    """
    paths = [label_paths] if isinstance(label_paths, (str, Path)) else list(label_paths)
    for label_path in paths:
        clashes = [layer for layer in standin_layers if layer_key(layer) == layer_key(label_path)]
        if clashes:
            raise ConfigError(
                f"The labels {Path(label_path).name} of task {task!r} come from the layer {clashes[0]}, which is an "
                "input of the AlphaEarth stand-in, so the task would measure the stand-in's own input. Remove the "
                "layer from alphaearth.standin.layers or remove the task from evaluation.tasks."
            )


def merge_small_classes(labels: pd.Series, min_points: int) -> tuple[pd.Series, pd.DataFrame]:
    """Merge classes with fewer than ``min_points`` points into ``other``; drop ``other`` if still too small.

    Returns:
        The new labels (NaN for dropped points) and a table with one row per
        original class: ``label``, ``points``, ``action`` and ``final_label``.
    """
    counts = labels.value_counts()
    small = set(counts[counts < min_points].index) | ({OTHER} if OTHER in counts.index else set())
    merged_total = int(counts[list(small)].sum()) if small else 0
    keep_other = merged_total >= min_points
    mapping, rows = {}, []
    for label, points in counts.items():
        if label not in small or (label == OTHER and keep_other):
            mapping[label] = label
            rows.append((label, int(points), "kept", label))
        elif keep_other:
            mapping[label] = OTHER
            rows.append((label, int(points), f"merged into {OTHER}", OTHER))
        else:
            rows.append((label, int(points), "dropped", None))
    report = pd.DataFrame(rows, columns=["label", "points", "action", "final_label"])
    return labels.map(mapping), report


def sample_label_points(
    polygons: gpd.GeoDataFrame,
    grid: Grid,
    is_valid: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    spacing: float,
    min_class_points: int,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Sample labelled points on the grid every ``spacing`` metres over valid pixels."""
    if spacing < grid.resolution:
        raise ConfigError(f"evaluation.landuse.spacing is {spacing} m, below the pixel size {grid.resolution} m.")
    if polygons.empty:
        raise NoDataError("The extract has no land-use polygons, so there are no land-use labels to evaluate on.")
    left, bottom, right, top = grid.bounds
    overlapping = polygons.intersects(shapely.box(left, bottom, right, top))
    if not overlapping.any():
        raise NoDataError(
            f"None of the {len(polygons)} land-use polygons overlaps the embedding raster (bounds "
            f"{tuple(round(b) for b in grid.bounds)} in {grid.crs}). Set evaluation.landuse.osm to an extract "
            "of the raster's area, or evaluation.landuse.source to none."
        )
    polygons = polygons[overlapping]

    polygons = polygons.assign(area=polygons.area).sort_values("area", ascending=False).reset_index(drop=True)
    # Polygons are burnt largest first, so a smaller polygon inside a larger one wins.
    burnt = rasterio.features.rasterize(
        zip(polygons.geometry, polygons.index),
        out_shape=grid.shape,
        transform=grid.transform,
        fill=-1,
        dtype="int32",
    )
    # The spacing snaps to a whole number of pixels, rounding halves up.
    step = max(1, int(spacing / grid.resolution + 0.5))
    rows, cols = np.nonzero(burnt >= 0)
    on_step = (rows % step == 0) & (cols % step == 0)
    rows, cols = rows[on_step], cols[on_step]
    valid = is_valid(rows, cols) if len(rows) else np.zeros(0, dtype=bool)
    rows, cols = rows[valid], cols[valid]

    polygon_index = burnt[rows, cols]
    return _labelled_points(
        pd.Series(polygons["label"].to_numpy()[polygon_index]),
        grid.x_coords()[cols],
        grid.y_coords()[rows],
        grid,
        {"osm_id": polygons["osm_id"].to_numpy()[polygon_index]},
        min_class_points=min_class_points,
        fix=f"at {spacing:g} m spacing. Lower evaluation.landuse.spacing or evaluation.landuse.min_class_points.",
    )


def label_points_from_table(
    path: str | Path,
    grid: Grid,
    is_valid: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    label_column: str = "label",
    x_column: str = "x",
    y_column: str = "y",
    crs: str = "EPSG:4326",
    min_class_points: int,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Take labelled points from a Parquet or CSV table, keeping those on valid pixels of the grid.

    Raises:
        ConfigError: the table lacks the label or coordinate columns.
        NoDataError: no point lies on a valid pixel, or no class is large enough.
    """
    path = Path(path)
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [column for column in (label_column, x_column, y_column) if column not in table.columns]
    if missing:
        raise ConfigError(f"{path}: column(s) {missing} not found; the table has {sorted(table.columns)}.")
    x, y = Transformer.from_crs(crs, grid.crs, always_xy=True).transform(
        table[x_column].to_numpy(dtype=float), table[y_column].to_numpy(dtype=float)
    )
    rows, cols = grid.rowcol(x, y)
    inside = grid.contains(rows, cols)
    valid = np.zeros(len(table), dtype=bool)
    valid[inside] = is_valid(rows[inside], cols[inside])
    logger.info("%s: %d labelled points, %d outside the raster, %d on nodata pixels",
                path.name, len(table), int((~inside).sum()), int((inside & ~valid).sum()))
    if not valid.any():
        raise NoDataError(f"{path}: no labelled point lies on a valid pixel of the embedding raster.")
    return _labelled_points(
        table[label_column][valid].astype(str).reset_index(drop=True),
        x[valid],
        y[valid],
        grid,
        {},
        min_class_points=min_class_points,
        fix=f"in {path.name}. Lower evaluation.landuse.min_class_points.",
    )


def _labelled_points(
    raw_labels: pd.Series, x: np.ndarray, y: np.ndarray, grid: Grid, extra: dict, *, min_class_points: int, fix: str
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Merge small classes, drop what is left unlabelled and build the points table."""
    labels, report = merge_small_classes(raw_labels, min_class_points)
    for row in report.itertuples():
        logger.info("Land-use class %-15s %6d points: %s", row.label, row.points, row.action)
    keep = labels.notna().to_numpy()
    if not keep.any():
        raise NoDataError(f"No land-use class has {min_class_points} points {fix}")
    x, y = x[keep], y[keep]
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    final = labels[keep].to_numpy()
    classes = sorted(set(final))
    columns = {"point_id": np.arange(int(keep.sum())), "label": final, "label_id": np.searchsorted(classes, final)}
    columns.update({name: values[keep] for name, values in extra.items()})
    columns.update({"x": x, "y": y, "lon": lon, "lat": lat})
    points = gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(x, y), crs=grid.crs)
    logger.info("%d label points in %d classes", len(points), len(classes))
    return points, report


def write_labels(points: gpd.GeoDataFrame, report: pd.DataFrame, points_path, report_path) -> None:
    """Write the label points (GeoParquet) and the class report (Parquet) atomically."""
    with atomic_output(points_path) as temporary:
        points.to_parquet(temporary, index=False)
    with atomic_output(report_path) as temporary:
        report.to_parquet(temporary, index=False)
