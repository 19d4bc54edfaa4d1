import numpy as np
import pandas as pd
import pytest

from aether.exceptions import AetherError
from aether.io import atomic_output, read_table_metadata, read_vector_table, write_vector_table


def test_atomic_output_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "table.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_output_replaces_directory(tmp_path):
    target = tmp_path / "store.zarr"
    target.mkdir()
    (target / "old").write_text("x")
    with atomic_output(target) as temporary:
        temporary.mkdir()
        (temporary / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_vector_table_round_trip(tmp_path):
    path = tmp_path / "vectors.parquet"
    matrix = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    write_vector_table(path, pd.DataFrame({"id": list("abcde")}), {"v": matrix}, metadata={"model": "m"})
    scalars, vectors = read_vector_table(path, ["v"])
    assert scalars["id"].tolist() == list("abcde")
    assert np.array_equal(vectors["v"], matrix)
    assert read_table_metadata(path) == {"model": "m"}


def test_vector_table_rejects_length_mismatch(tmp_path):
    with pytest.raises(ValueError, match="has 2 rows, the table has 3"):
        write_vector_table(tmp_path / "x.parquet", pd.DataFrame({"id": [1, 2, 3]}), {"v": np.zeros((2, 4))})


def test_read_vector_table_names_missing_column(tmp_path):
    path = tmp_path / "vectors.parquet"
    write_vector_table(path, pd.DataFrame({"id": [1]}), {"v": np.zeros((1, 2))})
    with pytest.raises(AetherError, match=r"missing vector column\(s\) \['embedding'\]"):
        read_vector_table(path, ["embedding"])
