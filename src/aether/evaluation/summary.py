"""Summary tables: mean and standard deviation over seeds, and the change of AETHER against raw AlphaEarth."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

GROUP_COLUMNS = ["task", "protocol", "head", "embedding"]
REFERENCE_EMBEDDING = "alphaearth"


def summarise(metrics: pd.DataFrame, metric_columns: Sequence[str]) -> pd.DataFrame:
    """Aggregate per-seed metrics into one row per (task, protocol, head, embedding).

    The standard deviation is the sample standard deviation over seeds (ddof = 1).
    Metrics that a task does not have stay NaN in its rows.
    """
    grouped = metrics.groupby(GROUP_COLUMNS, sort=True)
    summary = grouped[list(metric_columns)].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary["seeds"] = grouped["seed"].nunique()
    return summary.reset_index()


def relative_change(summary: pd.DataFrame, metric: str, *, candidate: str = "aether") -> pd.DataFrame:
    """Relative change in % of ``candidate`` against raw AlphaEarth, per (task, protocol, head)."""
    keys = ["task", "protocol", "head"]
    reference = summary[summary["embedding"] == REFERENCE_EMBEDDING].set_index(keys)[f"{metric}_mean"]
    compared = summary[summary["embedding"] == candidate].set_index(keys)[f"{metric}_mean"]
    change = (compared - reference) / reference.abs() * 100.0
    return change.rename(f"{metric}_change_percent").reset_index().dropna()


def relative_changes(summary: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Relative change in % of every embedding against raw AlphaEarth, one column per metric.

    Returns:
        One row per (task, protocol, head, embedding) other than AlphaEarth,
        with ``<metric>_change_percent`` columns; rows without a reference are left out.
    """
    keys = ["task", "protocol", "head"]
    candidates = sorted(set(summary["embedding"]) - {REFERENCE_EMBEDDING})
    frames = []
    for candidate in candidates:
        changes = [relative_change(summary, metric, candidate=candidate).set_index(keys) for metric in metrics]
        joined = pd.concat(changes, axis=1) if changes else pd.DataFrame()
        if not joined.empty:
            frames.append(joined.reset_index().assign(embedding=candidate))
    if not frames:
        return pd.DataFrame(columns=[*keys, "embedding", *(f"{metric}_change_percent" for metric in metrics)])
    table = pd.concat(frames, ignore_index=True)
    return table[[*keys, "embedding", *(f"{metric}_change_percent" for metric in metrics)]].sort_values(
        [*keys, "embedding"]).reset_index(drop=True)


def markdown_table(frame: pd.DataFrame) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown table."""
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def format_summary(summary: pd.DataFrame, metric_columns: Sequence[str], *, digits: int = 4) -> pd.DataFrame:
    """Return a display table with ``mean ± std`` strings per metric."""
    display = summary[GROUP_COLUMNS + ["seeds"]].copy()
    for metric in metric_columns:
        display[metric] = [
            f"{mean:.{digits}f} ± {std:.{digits}f}"
            for mean, std in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"].fillna(0.0))
        ]
    return display
