"""The evaluation summary as Parquet, Markdown and an HTML fragment for the Snakemake report."""

from __future__ import annotations

import html as html_escape
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from aether.evaluation.summary import format_summary, markdown_table, relative_changes, summarise
from aether.evaluation.tasks import METRICS_OF, PRIMARY_METRIC
from aether.io import atomic_output

logger = logging.getLogger(__name__)

STANDIN_WARNING = (
    "These results come from an AlphaEarth stand-in built from OpenStreetMap physical layers or coarse raster "
    "layers, not from real AlphaEarth embeddings. They test the workflow; they are not evidence about AETHER."
)
LOWER_IS_BETTER = ("kl", "l1", "chebyshev", "mae", "rmse")
PROTOCOL_NOTE = (
    "Protocols: `random` is the CaLLiPer split (80/20 with seed 42, 10 % of train for validation); "
    "`spatial_block` is the CityRep split (10 x 10 blocks over the units' extent, whole blocks per part). "
    "Regression metrics are on the transformed target scale of each task. For KL, L1, Chebyshev, MAE and "
    "RMSE lower is better, so a negative change is a gain."
)


def _write_text(path: str | Path, text: str) -> None:
    with atomic_output(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")


def _task_types(metrics: pd.DataFrame) -> dict[str, str]:
    if "task_type" in metrics.columns:
        return dict(zip(metrics["task"], metrics["task_type"]))
    return {task: "classification" for task in metrics["task"]}


def write_summary(
    metrics_paths: Sequence[str | Path],
    label_reports: Mapping[str, str | Path],
    *,
    table: str | Path,
    markdown: str | Path,
    html: str | Path,
) -> pd.DataFrame:
    """Aggregate per-seed metrics of every task into the summary table and render it as Markdown and HTML.

    Args:
        metrics_paths: per-(task, embedding) metric tables.
        label_reports: task name to its label report (classes, or statistics of the targets).
    """
    metrics = pd.concat([pd.read_parquet(path) for path in metrics_paths], ignore_index=True)
    types = _task_types(metrics)
    standin = bool(metrics["standin"].any())
    metric_columns = [m for task_type in dict.fromkeys(types.values()) for m in METRICS_OF[task_type]]
    summary = summarise(metrics, metric_columns)
    summary.insert(1, "task_type", summary["task"].map(types))
    summary["standin"] = standin
    with atomic_output(table) as temporary:
        summary.to_parquet(temporary, index=False)

    note = f"**Stand-in data.** {STANDIN_WARNING}\n\n" if standin else ""
    warning = f'<p style="color:#a00"><b>Stand-in data.</b> {html_escape.escape(STANDIN_WARNING)}</p>' if standin else ""
    text = [
        "# Evaluation summary\n\n",
        note,
        f"Mean ± sample standard deviation over seeds {sorted(metrics['seed'].unique().tolist())}; macro metrics "
        f"average over classes. {PROTOCOL_NOTE}\n",
    ]
    page = [f"<h2>Evaluation</h2>{warning}<p>{html_escape.escape(PROTOCOL_NOTE)}</p>"]
    for task, task_type in sorted(types.items()):
        names = list(METRICS_OF[task_type])
        part = summary[summary["task"] == task]
        display = format_summary(part, names).drop(columns="task")
        changes = relative_changes(part, names).drop(columns="task").round(2)
        primary, larger_better = PRIMARY_METRIC[task_type]
        text += [
            f"\n## {task} ({task_type})\n\n{note}{markdown_table(display)}\n\n",
            f"### Relative change against raw AlphaEarth (%)\n\n{markdown_table(changes)}\n",
        ]
        page += [
            f"<h3>{html_escape.escape(task)} ({task_type})</h3>{warning}",
            display.to_html(index=False, border=0),
            "<h4>Relative change against raw AlphaEarth (%)</h4>",
            changes.to_html(index=False, border=0),
        ]
        if task in label_reports:
            labels = pd.read_parquet(label_reports[task])
            heading = "Classes" if task_type == "classification" else "Targets"
            text.append(f"\n### {heading}\n\n{markdown_table(labels.round(4))}\n")
            page += [f"<h4>{heading}</h4>", labels.round(4).to_html(index=False, border=0)]
        for row in part.itertuples(index=False):
            logger.info("%s | %s | %s | %s | %s %.4f", task, row.protocol, row.head, row.embedding, primary,
                        getattr(row, f"{primary}_mean"))
        logger.info("%s: %s, %s is better", task, primary, "larger" if larger_better else "smaller")
    _write_text(markdown, "".join(text))
    _write_text(html, "".join(page))
    return summary
