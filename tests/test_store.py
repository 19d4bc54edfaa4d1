import numpy as np
import pytest

from aether.exceptions import InvalidRasterError
from aether.raster.grid import Grid
from aether.raster.store import (
    FLOAT_ENCODING,
    INT8_ENCODING,
    Block,
    WindowReader,
    create_store,
    iter_blocks,
    open_embedding,
    pixel_validity,
    store_chunk,
    store_grid,
    write_block,
)

GRID = Grid("EPSG:32635", 1000.0, 5000.0, 10.0, width=7, height=5)


def test_iter_blocks_tiles_grid_exactly():
    blocks = list(iter_blocks(GRID, 3))
    covered = np.zeros(GRID.shape, dtype=int)
    for block in blocks:
        covered[block.slices] += 1
    assert len(blocks) == 6
    assert np.all(covered == 1)


@pytest.mark.parametrize("encoding", [INT8_ENCODING, FLOAT_ENCODING])
def test_new_store_reads_as_nodata(tmp_path, encoding):
    create_store(tmp_path / "s.zarr", GRID, bands=4, encoding=encoding, chunk=4, attrs={"kind": "test"})
    array = open_embedding(tmp_path / "s.zarr")
    assert array.shape == (4, 5, 7)
    assert np.isnan(array.values).all()
    assert array.attrs["kind"] == "test"
    assert store_grid(array) == GRID
    assert store_chunk(array) == 4


def test_written_block_and_validity(tmp_path):
    create_store(tmp_path / "s.zarr", GRID, bands=2, encoding=FLOAT_ENCODING, chunk=4, attrs={})
    values = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    write_block(tmp_path / "s.zarr", Block(row=1, col=2, height=2, width=3), values)
    array = open_embedding(tmp_path / "s.zarr")
    assert np.array_equal(array.values[:, 1:3, 2:5], values)
    is_valid = pixel_validity(array)
    assert is_valid(np.array([1, 0, 2]), np.array([2, 0, 4])).tolist() == [True, False, True]
    assert is_valid(np.array([], dtype=int), np.array([], dtype=int)).shape == (0,)


def test_open_embedding_rejects_other_folders(tmp_path):
    (tmp_path / "not_a_store").mkdir()
    with pytest.raises(InvalidRasterError, match="is not a Zarr store written by this workflow"):
        open_embedding(tmp_path / "not_a_store")


def test_create_store_rejects_unknown_encoding(tmp_path):
    with pytest.raises(ValueError, match="unknown store encoding"):
        create_store(tmp_path / "s.zarr", GRID, bands=2, encoding="int4", chunk=4, attrs={})


def test_window_reader_matches_padded_slices(tmp_path):
    grid = Grid("EPSG:32635", 0.0, 500.0, 10.0, width=23, height=19)
    create_store(tmp_path / "s.zarr", grid, bands=3, encoding=FLOAT_ENCODING, chunk=8, attrs={})
    values = np.random.default_rng(0).standard_normal((3, 19, 23)).astype(np.float32)
    for block in iter_blocks(grid, 8):
        write_block(tmp_path / "s.zarr", block, values[(slice(None), *block.slices)])
    padded = np.full((3, 19 + 20, 23 + 20), np.nan, dtype=np.float32)
    padded[:, 10:29, 10:33] = values
    reader = WindowReader(open_embedding(tmp_path / "s.zarr"), cache_chunks=2)
    for first_row, last_row, first_col, last_col in [(0, 19, 0, 23), (-5, 4, -3, 9), (6, 17, 7, 30), (15, 25, 20, 26)]:
        window = reader.read(first_row, last_row, first_col, last_col)
        expected = padded[:, first_row + 10 : last_row + 10, first_col + 10 : last_col + 10]
        assert np.array_equal(window, expected, equal_nan=True), (first_row, last_row, first_col, last_col)
