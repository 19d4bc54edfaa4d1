"""Targets of the distribution and regression tasks: checks and transforms.

Regression targets such as population or GDP are heavy-tailed, so a task can
standardise them (``zscore``) or standardise their ``log1p`` (``log1p_zscore``).
The mean and standard deviation come from the training part only: fitting
them on all units would let the test units shape the scale the head is
trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aether.evaluation.spec import TRANSFORMS
from aether.exceptions import AetherError


@dataclass(frozen=True)
class TargetTransform:
    """A fitted target transform; ``apply`` maps raw values to the scale the heads learn."""

    kind: str
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, kind: str, values: np.ndarray) -> TargetTransform:
        """Fit ``kind`` on ``values`` (the training part), column by column.

        Raises:
            ValueError: unknown ``kind``.
        """
        if kind not in TRANSFORMS:
            raise ValueError(f"unknown target transform {kind!r}; expected one of {TRANSFORMS}")
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if kind == "none":
            return cls(kind, np.zeros(values.shape[1]), np.ones(values.shape[1]))
        base = np.log1p(values) if kind == "log1p_zscore" else values
        std = base.std(axis=0)
        # A constant column keeps scale 1 instead of dividing by zero.
        return cls(kind, base.mean(axis=0), np.where(std > 0, std, 1.0))

    def apply(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        base = np.log1p(values) if self.kind == "log1p_zscore" else values
        return ((base - self.mean) / self.std).astype(np.float32)

    def invert(self, transformed: np.ndarray) -> np.ndarray:
        base = np.asarray(transformed, dtype=np.float64) * self.std + self.mean
        return np.expm1(base) if self.kind == "log1p_zscore" else base


def check_regression_targets(values: np.ndarray, *, transform: str, source: str, column: str) -> None:
    """Reject targets a regression task cannot learn from.

    Raises:
        AetherError: NaN or infinite values, or negative values under ``log1p_zscore``.
    """
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise AetherError(
            f"{source}: column {column!r} has {int(bad.sum())} missing or infinite values (first at row "
            f"{int(np.flatnonzero(bad)[0])}). Remove those rows from the file or fill them."
        )
    if transform == "log1p_zscore" and (values < 0).any():
        raise AetherError(
            f"{source}: column {column!r} has {int((values < 0).sum())} negative values (minimum "
            f"{values.min():g}), which log1p_zscore cannot take. Use transform zscore or none for this task."
        )


def check_distributions(values: np.ndarray, *, source: str, columns: list[str]) -> np.ndarray:
    """Check that every row is a distribution over ``columns`` and return the rows rescaled to sum to 1.

    Rows that sum to 1 within a rounding tolerance, or to any positive total
    (shares stored as counts), are rescaled; shares do not have to be exact.

    Raises:
        AetherError: NaN, negative values or a row that sums to zero.
    """
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        bad = int((~np.isfinite(values)).any(axis=1).sum())
        raise AetherError(
            f"{source}: {bad} rows have missing values in the distribution columns {columns}. Remove those rows."
        )
    if (values < 0).any():
        raise AetherError(
            f"{source}: the distribution columns {columns} hold negative values (minimum {values.min():g}); "
            "a distribution needs shares or counts of zero or more."
        )
    totals = values.sum(axis=1)
    if (totals <= 0).any():
        raise AetherError(
            f"{source}: {int((totals <= 0).sum())} rows sum to zero over {columns}, so they are no distribution. "
            "Remove those rows."
        )
    return values / totals[:, None]
