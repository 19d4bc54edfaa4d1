"""Classification tasks: splits, seeds and metrics.

The split follows the CaLLiPer protocol: 80/20 train/test with seed 42,
then 10 % of the training points for validation. The split stays fixed while
the seeds (42, 24, 7, 0, 100 by default) change the head initialisation and
the batch order. Both splits are stratified by class, so every class of at
least ``MIN_CLASS_POINTS`` points appears in the training and test parts. The
validation part (8 % of the points) can miss a class of fewer than about 13
points.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from aether.evaluation.heads import HeadConfig, build_head, fit_classifiers, predict_classes
from aether.exceptions import AetherError, NoDataError

logger = logging.getLogger(__name__)

DEFAULT_SEEDS = (42, 24, 7, 0, 100)
MIN_CLASS_POINTS = 10


def random_split(
    labels: np.ndarray, *, seed: int = 42, test_fraction: float = 0.2, validation_fraction: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split indices into stratified train, validation and test parts."""
    index = np.arange(len(labels))
    train, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=labels)
    train, validation = train_test_split(
        train, test_size=validation_fraction, random_state=seed, stratify=labels[train]
    )
    return np.sort(train), np.sort(validation), np.sort(test)


def classification_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall and F1 over the classes present."""
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
    }


def evaluate_classification(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    heads: Sequence[str],
    seeds: Sequence[int] = DEFAULT_SEEDS,
    split_seed: int = 42,
    config: HeadConfig = HeadConfig(),
) -> pd.DataFrame:
    """Train every head with every seed on one fixed split and score it on the test part.

    Args:
        features: ``(n, d)`` unit features; rows with NaN are left out.
        labels: ``(n,)`` integer class ids.

    Returns:
        One row per (head, seed) with the metrics and the sizes of the parts.
    """
    usable = ~np.isnan(features).any(axis=1)
    if usable.sum() < 10:
        raise NoDataError(f"Only {int(usable.sum())} points have features; at least 10 are needed to evaluate.")
    if not usable.all():
        logger.warning("%d points have no valid pixel in their window and are left out", int((~usable).sum()))
    features, labels = features[usable].astype(np.float32), labels[usable]
    classes, labels, counts = np.unique(labels, return_inverse=True, return_counts=True)
    small = {int(c): int(n) for c, n in zip(classes, counts) if n < MIN_CLASS_POINTS}
    if small:
        raise AetherError(
            f"Classes {sorted(small)} have only {sorted(small.values())} points with features; a stratified "
            f"train/validation/test split needs at least {MIN_CLASS_POINTS} per class. Raise "
            "evaluation.landuse.min_class_points so that small classes are merged into 'other'."
        )
    train, validation, test = random_split(labels, seed=split_seed)
    class_count = int(labels.max()) + 1

    rows = []
    for head_kind in heads:
        initial = []
        for seed in seeds:
            torch.manual_seed(seed)
            initial.append(build_head(head_kind, features.shape[1], class_count, config))
        fitted, epochs = fit_classifiers(
            initial,
            (features[train], labels[train]),
            (features[validation], labels[validation]),
            seeds=list(seeds),
            config=config,
        )
        for seed, head, epoch_count in zip(seeds, fitted, epochs):
            metrics = classification_metrics(labels[test], predict_classes(head, features[test]))
            rows.append(
                {
                    "head": head_kind,
                    "seed": seed,
                    **metrics,
                    "epochs": epoch_count,
                    "n_train": len(train),
                    "n_validation": len(validation),
                    "n_test": len(test),
                }
            )
            logger.info("%s seed %3d: macro F1 %.4f, accuracy %.4f after %d epochs",
                        head_kind, seed, metrics["macro_f1"], metrics["accuracy"], epoch_count)
    return pd.DataFrame(rows)
