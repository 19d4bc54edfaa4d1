"""DuckDB connections with the spatial extension loaded offline.

The extension binary comes from the PyPI package ``duckdb-extension-spatial``
(same version as ``duckdb``), so no network access is needed at run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb

from aether.exceptions import ConfigError


def spatial_extension_path() -> Path:
    """Locate the spatial extension file shipped by ``duckdb-extension-spatial``.

    Raises:
        ConfigError: the package is missing or its version differs from duckdb's.
    """
    fix = f"install it with: pip install duckdb-extension-spatial=={duckdb.__version__}"
    spec = importlib.util.find_spec("duckdb_extension_spatial")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"The DuckDB spatial extension package is not installed; {fix}.")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    path = package_dir / "extensions" / f"v{duckdb.__version__}" / "spatial.duckdb_extension"
    if not path.exists():
        found = sorted(p.name for p in (package_dir / "extensions").glob("v*"))
        raise ConfigError(
            f"No spatial extension for duckdb {duckdb.__version__} in {package_dir} (found {found}); {fix}."
        )
    return path


def connect(*, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB database with the spatial extension loaded."""
    connection = duckdb.connect()
    connection.execute(f"LOAD '{spatial_extension_path()}'")
    if threads:
        connection.execute(f"SET threads = {int(threads)}")
    return connection
