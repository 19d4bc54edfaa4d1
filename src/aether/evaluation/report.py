"""The evaluation summary as Parquet, Markdown and an HTML fragment for the Snakemake report."""

from __future__ import annotations

import html as html_escape
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from aether.evaluation.landuse import METRICS
from aether.evaluation.summary import format_summary, markdown_table, relative_change, summarise
from aether.io import atomic_output

logger = logging.getLogger(__name__)

STANDIN_WARNING = (
    "These results come from an AlphaEarth stand-in built from OpenStreetMap physical layers, "
    "not from real AlphaEarth embeddings. They test the workflow; they are not evidence about AETHER."
)


def _write_text(path: str | Path, text: str) -> None:
    with atomic_output(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")


def write_summary(
    metrics_paths: Sequence[str | Path],
    classes_path: str | Path,
    *,
    table: str | Path,
    markdown: str | Path,
    html: str | Path,
) -> pd.DataFrame:
    """Aggregate per-seed metrics into the summary table and render it as Markdown and HTML."""
    metrics = pd.concat([pd.read_parquet(path) for path in metrics_paths], ignore_index=True)
    standin = bool(metrics["standin"].any())
    summary = summarise(metrics, METRICS)
    summary["standin"] = standin
    with atomic_output(table) as temporary:
        summary.to_parquet(temporary, index=False)

    display = format_summary(summary, METRICS)
    changes = relative_change(summary, "macro_f1").merge(
        relative_change(summary, "accuracy"), on=["task", "protocol", "head"], how="outer"
    )
    changes = changes.round(2)
    classes = pd.read_parquet(classes_path)
    note = f"**Stand-in data.** {STANDIN_WARNING}\n\n" if standin else ""
    text = (
        "# Evaluation summary\n\n"
        f"{note}"
        "Mean ± sample standard deviation over seeds "
        f"{sorted(metrics['seed'].unique().tolist())}; macro metrics average over classes.\n\n"
        f"{markdown_table(display)}\n\n"
        "## Relative change of AETHER against raw AlphaEarth (%)\n\n"
        f"{markdown_table(changes)}\n\n"
        "## Land-use classes\n\n"
        f"{markdown_table(classes)}\n"
    )
    _write_text(markdown, text)

    warning = f'<p style="color:#a00"><b>Stand-in data.</b> {html_escape.escape(STANDIN_WARNING)}</p>' if standin else ""
    page = (
        f"<h2>Land-use classification</h2>{warning}"
        f"{display.to_html(index=False, border=0)}"
        "<h3>Relative change of AETHER against raw AlphaEarth (%)</h3>"
        f"{changes.to_html(index=False, border=0)}"
        "<h3>Land-use classes</h3>"
        f"{classes.to_html(index=False, border=0)}"
    )
    _write_text(html, page)
    for row in display.itertuples(index=False):
        logger.info("%s | %s | %s | %s | macro F1 %s | accuracy %s",
                    row.task, row.protocol, row.head, row.embedding, row.macro_f1, row.accuracy)
    return summary
