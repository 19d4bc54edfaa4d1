"""Start-up shared by the job scripts.

Snakemake puts this folder on ``sys.path`` when it runs a script, so every
script can ``from _job import start``. ``start`` makes the ``aether``
package of this checkout importable (also inside conda environments that
hold only the dependencies) and routes logging to the rule's log file.
"""

import sys
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2] / "src"


def start(snakemake) -> None:
    """Prepare a job: import path first, then logging to ``snakemake.log[0]``."""
    if str(SOURCE_DIR) not in sys.path:
        sys.path.insert(0, str(SOURCE_DIR))
    from aether.logs import configure_rule_logging

    configure_rule_logging(snakemake.log[0])
