"""Logging set-up for workflow scripts and progress bars for long loops.

Library modules only create module-level loggers. The entry points in
``workflow/scripts`` call :func:`configure_rule_logging`, so everything a job
prints ends up in the rule's ``log:`` file.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_rule_logging(log_path: str | Path, *, level: int = logging.INFO) -> None:
    """Route logging, warnings, stderr and uncaught exceptions to ``log_path``.

    Progress bars write to stderr, so they land in the same file. The
    traceback of an exception that ends the script is logged once, so the
    rule log always records why a job failed.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    sys.stderr = stream

    def log_uncaught(exc_type, exc_value, traceback):
        # stderr is the log file too, so logging the traceback once is enough;
        # the interpreter still exits with status 1.
        logging.getLogger("aether").error("Job failed", exc_info=(exc_type, exc_value, traceback))

    sys.excepthook = log_uncaught


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar that also renders in log files."""
    return iter(
        tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, mininterval=2.0, ascii=True, ncols=100)
    )
