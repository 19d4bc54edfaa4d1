"""Category tables that map a source's tags to the (class, category) hierarchy of the descriptions.

A table is a CSV file with the columns ``key, value, class, category,
include``. A row with ``value = *`` is the default of its key: it applies to
every value without a row of its own, and an empty ``class`` means "the tag
value with underscores replaced by spaces". ``include = false`` drops a tag
(benches, waste baskets and other street furniture are not places).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aether.exceptions import ConfigError

REQUIRED_COLUMNS = ("key", "value", "class", "category", "include")


def read_category_table(path: str | Path) -> pd.DataFrame:
    """Read and check a category table.

    Raises:
        ConfigError: the file is missing, lacks a column or maps a tag twice.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"POI category table not found: {path}. Check pois.sources[].categories in the configuration.")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {missing}; a category table needs {list(REQUIRED_COLUMNS)}.")
    duplicated = table[table.duplicated(["key", "value"], keep=False)]
    if len(duplicated):
        pairs = sorted({f"{k}={v}" for k, v in zip(duplicated["key"], duplicated["value"])})
        raise ConfigError(f"{path}: tags listed more than once: {pairs[:10]}. Keep one row per key and value.")
    include = table["include"].str.strip().str.lower()
    invalid = sorted(set(include) - {"true", "false"})
    if invalid:
        raise ConfigError(f"{path}: column include must be true or false, found {invalid}.")
    table["include"] = include == "true"
    return table[list(REQUIRED_COLUMNS)]
