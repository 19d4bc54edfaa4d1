"""Atomic artifact writing and Parquet tables of embedding vectors.

Every artifact is written to a temporary sibling path and renamed into place
only when complete, so an interrupted job never leaves a half-written file or
Zarr store that a later run could mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from aether.exceptions import AetherError


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` and move it onto ``path`` on success.

    Works for files and for directories such as Zarr stores. On an exception
    the temporary path is removed and an existing ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield temporary
        if path.is_dir() and not path.is_symlink():
            # os.replace cannot overwrite a non-empty directory: move the old
            # store aside first so that a failure in between loses nothing.
            previous = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(path, previous)
            os.replace(temporary, path)
            _remove(previous)
        else:
            os.replace(temporary, path)
    finally:
        if temporary.exists() or temporary.is_symlink():
            _remove(temporary)


def vectors_to_arrow(matrix: np.ndarray) -> pa.FixedSizeListArray:
    """Convert an ``(n, d)`` float matrix into an Arrow fixed-size list column."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D matrix of vectors, got shape {matrix.shape}")
    flat = pa.array(matrix.reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def write_vector_table(
    path: str | Path,
    columns: pd.DataFrame,
    vectors: Mapping[str, np.ndarray],
    *,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write scalar ``columns`` plus fixed-size vector columns to Parquet atomically."""
    table = pa.Table.from_pandas(columns.reset_index(drop=True), preserve_index=False)
    for name, matrix in vectors.items():
        if len(matrix) != len(columns):
            raise ValueError(f"vector column {name!r} has {len(matrix)} rows, the table has {len(columns)}")
        table = table.append_column(name, vectors_to_arrow(matrix))
    if metadata:
        existing = table.schema.metadata or {}
        table = table.replace_schema_metadata({**existing, **{k.encode(): v.encode() for k, v in metadata.items()}})
    with atomic_output(path) as temporary:
        pq.write_table(table, temporary)


def read_vector_table(path: str | Path, vector_columns: list[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Read a table written by :func:`write_vector_table`.

    Returns:
        The scalar columns as a DataFrame and each vector column as an
        ``(n, d)`` float32 matrix.
    """
    table = pq.read_table(path)
    missing = [name for name in vector_columns if name not in table.column_names]
    if missing:
        raise AetherError(f"{path}: missing vector column(s) {missing}; found {table.column_names}.")
    vectors = {}
    for name in vector_columns:
        column = table.column(name).combine_chunks()
        width = column.type.list_size
        vectors[name] = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width).astype(np.float32)
    scalars = table.drop_columns(vector_columns).to_pandas()
    return scalars, vectors


def read_table_metadata(path: str | Path) -> dict[str, str]:
    """Return the key-value metadata stored in a Parquet file's schema."""
    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if not k.startswith(b"ARROW:") and k != b"pandas"}
