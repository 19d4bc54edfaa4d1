import subprocess
import sys
import textwrap
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"


def test_failed_job_logs_traceback_once(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(SOURCE)!r})
        import logging
        from aether.logs import configure_rule_logging
        configure_rule_logging({str(tmp_path / "job.log")!r})
        logging.getLogger("aether.test").info("starting")
        raise ValueError("broken input")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    log = (tmp_path / "job.log").read_text()
    assert result.returncode == 1
    assert "aether.test: starting" in log
    assert log.count("ValueError: broken input") == 1
    assert "Job failed" in log
