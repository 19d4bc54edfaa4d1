"""The land-use classification task on point labels."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from aether.evaluation.classification import DEFAULT_SEEDS, evaluate_classification
from aether.evaluation.features import point_features
from aether.evaluation.heads import HEADS, HeadConfig
from aether.raster.store import open_embedding

logger = logging.getLogger(__name__)

METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")


def evaluate_landuse(
    store_path: str | Path,
    labels_path: str | Path,
    *,
    embedding: str,
    radius: int = 4,
    heads: Sequence[str] = HEADS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    split_seed: int = 42,
    config: HeadConfig = HeadConfig(),
) -> pd.DataFrame:
    """Score one embedding raster on the land-use labels; one row per (head, seed)."""
    array = open_embedding(store_path)
    labels = pd.read_parquet(labels_path, columns=["x", "y", "label_id"])
    features = point_features(array, labels["x"].to_numpy(), labels["y"].to_numpy(), radius=radius)
    logger.info("Evaluating %s (%d-d) on %d land-use points", embedding, features.shape[1], len(labels))
    metrics = evaluate_classification(
        features, labels["label_id"].to_numpy(), heads=heads, seeds=seeds, split_seed=split_seed, config=config
    )
    metrics.insert(0, "task", "landuse")
    metrics.insert(1, "protocol", "random")
    metrics.insert(2, "embedding", embedding)
    metrics["standin"] = bool(array.attrs.get("standin", False))
    return metrics
