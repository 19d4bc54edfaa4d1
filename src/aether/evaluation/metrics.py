"""Metrics of the three task types, computed on the test part of a split."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support


def classification_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-averaged precision, recall and F1 over the classes present."""
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
    }


def distribution_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Mean over units of KL(truth || predicted), the L1 distance and the Chebyshev (largest) distance."""
    truth, predicted = np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    eps = 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(truth > 0, truth * (np.log(truth) - np.log(np.maximum(predicted, eps))), 0.0)
    difference = np.abs(truth - predicted)
    return {
        "kl": float(terms.sum(axis=1).mean()),
        "l1": float(difference.sum(axis=1).mean()),
        "chebyshev": float(difference.max(axis=1).mean()),
    }


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R², mean absolute error and root mean squared error, pooled over all target columns."""
    truth = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(len(predicted), -1)
    residual = truth - predicted
    total = ((truth - truth.mean(axis=0)) ** 2).sum()
    return {
        "r2": float(1.0 - (residual**2).sum() / total) if total > 0 else float("nan"),
        "mae": float(np.abs(residual).mean()),
        "rmse": float(np.sqrt((residual**2).mean())),
    }
