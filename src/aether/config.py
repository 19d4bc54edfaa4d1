"""Validation of the workflow configuration with short, actionable messages.

Snakemake's own validation prints the whole schema on the first error. This
check runs first and reports each problem on one line: where it is, what is
wrong, and for a misspelt key the closest valid one.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import jsonschema
import yaml

from aether.exceptions import ConfigError

MAX_ERRORS = 5


def _describe(error: jsonschema.ValidationError) -> str:
    location = ".".join(str(part) for part in error.absolute_path) or "top level"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unexpected = [key for key in error.instance if key not in allowed]
        hints = []
        for key in unexpected:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
        return f"{location}: unknown key {', '.join(hints)}; valid keys are {', '.join(allowed)}"
    return f"{location}: {error.message}"


def check_config(config: dict, schema_path: str | Path, *, source: str) -> None:
    """Check ``config`` against the JSON schema and raise one short message listing the problems.

    Raises:
        ConfigError: naming ``source`` (the configuration file) and each invalid key.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda error: [str(p) for p in error.absolute_path])
    if not errors:
        return
    lines = [f"  - {_describe(error)}" for error in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        lines.append(f"  - ... and {len(errors) - MAX_ERRORS} more")
    raise ConfigError(
        f"Invalid configuration in {source}:\n" + "\n".join(lines) + "\n"
        "workflow/schemas/config.schema.yaml describes every key."
    )
