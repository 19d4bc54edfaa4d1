"""The evaluation steps that the workflow's jobs call: unit features of one embedding, then scores.

Embeddings are named as in the configuration: ``alphaearth`` and ``aether``
(the workflow's rasters), ``poi_counts`` (the POI bag-of-classes baseline),
``alphaearth_poi`` (AlphaEarth joined with that baseline) and any extra
embedding store listed in ``evaluation.extra_embeddings``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from aether.evaluation.features import (
    area_features,
    concatenate_features,
    normalise_rows,
    point_features,
    poi_counts_at_points,
    poi_counts_in_cells,
)
from aether.evaluation.heads import HeadConfig
from aether.evaluation.tasks import evaluate_units
from aether.evaluation.units import CellGrid, target_values
from aether.exceptions import AetherError
from aether.io import read_table_metadata, read_vector_table, write_vector_table
from aether.raster.store import open_embedding, store_grid

logger = logging.getLogger(__name__)

BASELINE = "poi_counts"
JOINED = "alphaearth_poi"


def read_units(path: str | Path) -> pd.DataFrame:
    """Read a units table; the land-use points table names its ids ``point_id``."""
    units = pd.read_parquet(path)
    if "unit_id" not in units.columns and "point_id" in units.columns:
        units = units.rename(columns={"point_id": "unit_id"})
    return pd.DataFrame(units.drop(columns="geometry", errors="ignore"))


def raster_features(
    store_path: str | Path,
    units: pd.DataFrame,
    *,
    units_kind: str,
    cells_path: str | Path | None,
    radius: int,
    units_crs: str | None = None,
) -> tuple[np.ndarray, bool]:
    """Unit features of an embedding store, and whether the store is (derived from) a stand-in.

    Raises:
        AetherError: point units given in ``units_crs`` (the AlphaEarth store's CRS) while the store
            has another CRS.
    """
    # TODO: extra embeddings must be Zarr stores written by this workflow; a GeoTIFF or a store of another
    # layout has to be converted first, since there is no ingest rule for extra rasters yet.
    array = open_embedding(store_path)
    crs = store_grid(array).crs
    if units_kind == "point" and units_crs is not None and crs != units_crs:
        raise AetherError(
            f"{store_path}: the store is in {crs}, but the units are in the AlphaEarth store's {units_crs}. "
            "Write the extra embedding on the AlphaEarth grid, or remove it from evaluation.extra_embeddings."
        )
    if units_kind == "area":
        features = area_features(array, CellGrid.read(cells_path), units["cell_row"].to_numpy(),
                                 units["cell_col"].to_numpy())
    else:
        features = point_features(array, units["x"].to_numpy(), units["y"].to_numpy(), radius=radius)
    return features, bool(array.attrs.get("standin", False))


def baseline_features(
    pois_path: str | Path,
    store_path: str | Path,
    units: pd.DataFrame,
    *,
    units_kind: str,
    cells_path: str | Path | None,
    radius: int,
    column: str,
) -> tuple[np.ndarray, list[str]]:
    """The POI baseline: per unit, the L2-normalised counts of POIs per ``column`` value in its window or cell."""
    # TODO: the row normalisation keeps the mix of POI classes but drops how many POIs there are, which
    # likely weakens the baseline on density-like targets such as population.
    pois = pd.DataFrame(gpd.read_parquet(pois_path).drop(columns="geometry"))
    grid = store_grid(open_embedding(store_path))
    if units_kind == "area":
        counts, names = poi_counts_in_cells(pois, grid, CellGrid.read(cells_path), units["cell_row"].to_numpy(),
                                            units["cell_col"].to_numpy(), column=column)
    else:
        counts, names = poi_counts_at_points(pois, grid, units["x"].to_numpy(), units["y"].to_numpy(),
                                             radius=radius, column=column)
    logger.info("POI counts over %d %s values: %d of %d units have at least one POI", len(names), column,
                int((counts.sum(axis=1) > 0).sum()), len(units))
    return normalise_rows(counts), names


def write_features(path: str | Path, units: pd.DataFrame, features: np.ndarray, *, embedding: str,
                   standin: bool, columns: Sequence[str] = ()) -> None:
    """Write unit features as Parquet: ``unit_id`` plus a ``features`` vector column."""
    metadata = {"embedding": embedding, "standin": json.dumps(bool(standin)), "columns": json.dumps(list(columns))}
    write_vector_table(path, units[["unit_id"]], {"features": features}, metadata=metadata)
    logger.info("%s: %d-d features of %d units, %d without a valid pixel", embedding, features.shape[1],
                len(units), int(np.isnan(features).any(axis=1).sum()))


def read_features(path: str | Path) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """Read a features table written by :func:`write_features`."""
    scalars, vectors = read_vector_table(path, ["features"])
    return scalars, vectors["features"], json.loads(read_table_metadata(path).get("standin", "false"))


def joined_features(paths: Sequence[str | Path]) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """Join feature tables of the same units side by side (for ``alphaearth_poi``)."""
    tables = [read_features(path) for path in paths]
    ids = tables[0][0]["unit_id"].to_numpy()
    for path, (scalars, _, _) in zip(paths[1:], tables[1:]):
        if not np.array_equal(scalars["unit_id"].to_numpy(), ids):
            raise AetherError(f"{path}: its units differ from those of {paths[0]}; rerun both feature jobs.")
    joined = concatenate_features(*[matrix for _, matrix, _ in tables])
    return tables[0][0], joined, any(standin for _, _, standin in tables)


def evaluate_features(
    units_path: str | Path,
    features_path: str | Path,
    *,
    task: str,
    task_type: str,
    columns: Sequence[str],
    embedding: str,
    protocols: Sequence[str],
    heads: Sequence[str],
    seeds: Sequence[int],
    split_seed: int = 42,
    blocks: int = 10,
    transform: str = "none",
    config: HeadConfig = HeadConfig(),
    max_units: int | None = None,
) -> pd.DataFrame:
    """Score one embedding on one task; one row per (protocol, head, seed)."""
    units = read_units(units_path)
    scalars, features, standin = read_features(features_path)
    if not np.array_equal(scalars["unit_id"].to_numpy(), units["unit_id"].to_numpy()):
        raise AetherError(f"{features_path}: its units differ from {units_path}; rerun the feature job.")
    targets = target_values(units, task_type, list(columns))
    if task_type == "classification":
        # Units of classes dropped as too small carry label_id -1.
        labelled = targets >= 0
        units, features, targets = units[labelled], features[labelled], targets[labelled]
    logger.info("Evaluating %s (%d-d) on %d units of task %s (%s)", embedding, features.shape[1], len(units), task,
                task_type)
    metrics = evaluate_units(
        features, targets, task_type=task_type, x=units["x"].to_numpy(), y=units["y"].to_numpy(),
        protocols=protocols, heads=heads, seeds=seeds, split_seed=split_seed, blocks=blocks, transform=transform,
        config=config, max_units=max_units,
    )
    metrics.insert(0, "task", task)
    metrics.insert(1, "task_type", task_type)
    metrics.insert(3, "embedding", embedding)
    metrics["standin"] = standin
    return metrics
