"""Evaluation tasks: their configuration and the training and scoring of heads on unit features.

Three task types share one loop over protocols, heads and seeds:

- ``classification``: cross-entropy; accuracy and macro precision, recall and F1.
- ``distribution``: a log-softmax head trained with the KL divergence (as for
  NS-SeC in CaLLiPer and AETHER); KL, L1 and Chebyshev distance.
- ``regression``: mean squared error on the transformed target; R², MAE and
  RMSE on that same transformed scale.

The split of a protocol stays fixed (``split_seed``) while the seeds change
the head initialisation and the batch order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from aether.evaluation.heads import (
    HeadConfig,
    build_head,
    fit_heads,
    predict_classes,
    predict_distributions,
    predict_values,
)
from aether.evaluation.metrics import classification_metrics, distribution_metrics, regression_metrics
from aether.evaluation.spec import TASK_TYPES, UNITS, TaskSpec  # noqa: F401 (re-exported)
from aether.evaluation.splits import PROTOCOLS, split_units
from aether.evaluation.targets import TargetTransform
from aether.exceptions import AetherError, NoDataError

logger = logging.getLogger(__name__)

DEFAULT_SEEDS = (42, 24, 7, 0, 100)
MIN_CLASS_POINTS = 10
LOSS_OF = {"classification": "cross_entropy", "distribution": "kl", "regression": "mse"}
METRICS_OF = {
    "classification": ("accuracy", "macro_precision", "macro_recall", "macro_f1"),
    "distribution": ("kl", "l1", "chebyshev"),
    "regression": ("r2", "mae", "rmse"),
}
# The metric that the summary compares embeddings on, and whether larger is better.
PRIMARY_METRIC = {"classification": ("macro_f1", True), "distribution": ("kl", False), "regression": ("r2", True)}


def evaluate_units(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    task_type: str,
    x: np.ndarray,
    y: np.ndarray,
    protocols: Sequence[str] = PROTOCOLS,
    heads: Sequence[str] = ("linear", "mlp"),
    seeds: Sequence[int] = DEFAULT_SEEDS,
    split_seed: int = 42,
    blocks: int = 10,
    transform: str = "none",
    config: HeadConfig = HeadConfig(),
    max_units: int | None = None,
) -> pd.DataFrame:
    """Train every head with every seed under every protocol and score it on the test part.

    Args:
        features: ``(n, d)`` unit features; rows with NaN are left out.
        targets: ``(n,)`` class ids (classification), ``(n, k)`` rows that sum
            to 1 (distribution) or ``(n,)`` / ``(n, k)`` raw values (regression).
        x, y: unit coordinates in a projected CRS, for the spatial blocks.
        max_units: evaluate a seeded sample of at most about this many units
            (see :func:`subsample_units`); None keeps them all.

    Returns:
        One row per (protocol, head, seed) with the metrics and the sizes of the parts.

    Raises:
        NoDataError: fewer than 10 units with features.
        AetherError: a class too small for a stratified split.
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"unknown task type {task_type!r}; expected one of {TASK_TYPES}")
    usable = ~np.isnan(features).any(axis=1)
    if usable.sum() < 10:
        raise NoDataError(f"Only {int(usable.sum())} units have features; at least 10 are needed to evaluate.")
    if not usable.all():
        logger.warning("%d units have no valid pixel in their window or cell and are left out", int((~usable).sum()))
    features = features[usable].astype(np.float32)
    targets, x, y = np.asarray(targets)[usable], np.asarray(x)[usable], np.asarray(y)[usable]
    if max_units is not None and len(features) > max_units:
        keep = subsample_units(
            len(features), max_units, seed=split_seed, labels=targets if task_type == "classification" else None
        )
        logger.info(
            "Evaluating %d of %d units (evaluation.max_units = %d), drawn with seed %d",
            len(keep), len(features), max_units, split_seed,
        )
        features, targets, x, y = features[keep], targets[keep], x[keep], y[keep]
    if task_type == "classification":
        targets = _class_ids(targets)
        out_dim = int(targets.max()) + 1
    else:
        targets = targets.reshape(len(targets), -1).astype(np.float64)
        out_dim = targets.shape[1]

    rows = []
    for protocol in protocols:
        train, validation, test = split_units(
            protocol, x=x, y=y, labels=targets if task_type == "classification" else None,
            seed=split_seed, blocks=blocks,
        )
        fitted_targets, scale = _training_targets(task_type, targets, train, transform)
        for head_kind in heads:
            initial = []
            for seed in seeds:
                torch.manual_seed(seed)
                initial.append(build_head(head_kind, features.shape[1], out_dim, config))
            fitted, epochs = fit_heads(
                initial,
                (features[train], fitted_targets[train]),
                (features[validation], fitted_targets[validation]),
                seeds=list(seeds),
                loss=LOSS_OF[task_type],
                config=config,
            )
            for seed, head, epoch_count in zip(seeds, fitted, epochs):
                metrics = _score(task_type, head, features[test], fitted_targets[test])
                rows.append({
                    "protocol": protocol, "head": head_kind, "seed": seed, **metrics, "epochs": epoch_count,
                    "n_train": len(train), "n_validation": len(validation), "n_test": len(test),
                })
                logger.info("%s %s seed %3d: %s after %d epochs (%s)", protocol, head_kind, seed,
                            ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), epoch_count, scale)
    return pd.DataFrame(rows)


# Each class keeps at least this many units in a subsample (or all it has).
MIN_SUBSAMPLE_CLASS = 20


def subsample_units(count: int, max_units: int, *, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of a seeded sample of ``max_units`` of ``count`` units.

    With labels, every class is sampled in proportion and keeps at least
    ``MIN_SUBSAMPLE_CLASS`` units, so a rare class survives the stratified
    splits. The sample can then exceed ``max_units`` by a few units.
    """
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(count, size=max_units, replace=False))
    fraction = max_units / count
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        size = min(len(members), max(round(len(members) * fraction), MIN_SUBSAMPLE_CLASS))
        keep.append(rng.choice(members, size=size, replace=False))
    return np.sort(np.concatenate(keep))


def _class_ids(labels: np.ndarray) -> np.ndarray:
    """Renumber class labels 0..k-1 and reject classes too small for a stratified split."""
    classes, ids, counts = np.unique(labels, return_inverse=True, return_counts=True)
    small = {int(c) if np.issubdtype(classes.dtype, np.integer) else str(c): int(n)
             for c, n in zip(classes, counts) if n < MIN_CLASS_POINTS}
    if small:
        raise AetherError(
            f"Classes {sorted(small)} have only {sorted(small.values())} points with features; a stratified "
            f"train/validation/test split needs at least {MIN_CLASS_POINTS} per class. Raise min_class_points "
            "of the task (evaluation.landuse.min_class_points for land use) so that small classes are merged "
            "into 'other'."
        )
    return ids


def _training_targets(task_type: str, targets: np.ndarray, train: np.ndarray, transform: str):
    """Targets on the scale the heads learn; a regression transform is fitted on ``train`` only."""
    # TODO: regression metrics are computed on this transformed scale (log1p and z-score), so MAE and
    # RMSE are not in the target's own units and are comparable only between runs with the same transform.
    if task_type != "regression":
        return (targets.astype(np.float32) if task_type == "distribution" else targets), "raw"
    fitted = TargetTransform.fit(transform, targets[train])
    return fitted.apply(targets), f"{transform} fitted on {len(train)} training units"


def _score(task_type: str, head, features: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    if task_type == "classification":
        return classification_metrics(truth, predict_classes(head, features))
    if task_type == "distribution":
        return distribution_metrics(truth, predict_distributions(head, features))
    return regression_metrics(truth, predict_values(head, features))
