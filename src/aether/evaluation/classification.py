"""Classification under the CaLLiPer protocol: one random split, several seeds.

The split is 80/20 train/test with seed 42, then 10 % of the training points
for validation. The split stays fixed while the seeds (42, 24, 7, 0, 100 by
default) change the head initialisation and the batch order. Both splits are
stratified by class, so every class of at least ``MIN_CLASS_POINTS`` points
appears in the training and test parts. The validation part (8 % of the
points) can miss a class of fewer than about 13 points.

:func:`aether.evaluation.tasks.evaluate_units` runs the same loop for every
task type and for the spatial-block protocol too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from aether.evaluation.heads import HeadConfig
from aether.evaluation.metrics import classification_metrics
from aether.evaluation.splits import random_split
from aether.evaluation.tasks import DEFAULT_SEEDS, MIN_CLASS_POINTS, evaluate_units

__all__ = ["DEFAULT_SEEDS", "MIN_CLASS_POINTS", "classification_metrics", "evaluate_classification", "random_split"]


def evaluate_classification(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    heads: Sequence[str],
    seeds: Sequence[int] = DEFAULT_SEEDS,
    split_seed: int = 42,
    config: HeadConfig = HeadConfig(),
) -> pd.DataFrame:
    """Train every head with every seed on one fixed random split and score it on the test part.

    Args:
        features: ``(n, d)`` unit features; rows with NaN are left out.
        labels: ``(n,)`` integer class ids.

    Returns:
        One row per (head, seed) with the metrics and the sizes of the parts.
    """
    metrics = evaluate_units(
        features, labels, task_type="classification", x=np.zeros(len(labels)), y=np.zeros(len(labels)),
        protocols=("random",), heads=heads, seeds=seeds, split_seed=split_seed, config=config,
    )
    return metrics.drop(columns="protocol")
