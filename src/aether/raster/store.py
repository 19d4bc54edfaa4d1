"""Chunked, georeferenced Zarr stores of embedding rasters.

A store is a Zarr (format 2) group with one variable ``embedding`` of shape
``(band, y, x)``, pixel-centre coordinates ``x`` and ``y`` and a
``spatial_ref`` coordinate in the CF/rioxarray convention, so that
``xarray.open_zarr(path).embedding.rio.crs`` and ``.rio.transform()`` work
without further help. Each chunk holds all bands of a square pixel block,
because every consumer (pooling, projection, retrieval) needs whole vectors.

Two encodings exist:

- ``aef-int8``: the int8 codes of the public AlphaEarth tiles, stored as they
  are (lossless, a quarter of the float size); :func:`open_embedding`
  de-quantises them on the fly.
- ``float32``: plain values with NaN as nodata (Earth Engine exports and the
  AETHER output).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array
import numpy as np
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr
import zarr

from aether.exceptions import InvalidRasterError
from aether.raster.codec import DEQUANTISATION, NODATA_CODE, dequantise
from aether.raster.grid import Grid

VARIABLE = "embedding"
INT8_ENCODING = "aef-int8"
FLOAT_ENCODING = "float32"


@dataclass(frozen=True)
class Block:
    """A chunk-aligned window of a store: rows ``row:row+height`` and columns ``col:col+width``."""

    row: int
    col: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)


def iter_blocks(grid: Grid, chunk: int) -> Iterator[Block]:
    """Yield the chunk-aligned blocks that tile ``grid``, row by row."""
    for row in range(0, grid.height, chunk):
        for col in range(0, grid.width, chunk):
            yield Block(row, col, min(chunk, grid.height - row), min(chunk, grid.width - col))


def create_store(
    path: str | Path,
    grid: Grid,
    *,
    bands: int,
    encoding: str,
    chunk: int,
    attrs: Mapping[str, Any],
) -> None:
    """Create an empty store on ``grid``; every pixel reads as nodata until written."""
    if encoding == INT8_ENCODING:
        dtype, fill = np.int8, NODATA_CODE
    elif encoding == FLOAT_ENCODING:
        dtype, fill = np.float32, np.nan
    else:
        raise ValueError(f"unknown store encoding {encoding!r}")

    template = dask.array.full(
        (bands, grid.height, grid.width), fill, dtype=dtype, chunks=(bands, chunk, chunk)
    )
    array = xr.DataArray(
        template,
        dims=("band", "y", "x"),
        coords={"band": np.arange(bands), "y": grid.y_coords(), "x": grid.x_coords()},
        name=VARIABLE,
    )
    array = array.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    dataset = array.to_dataset()
    dataset.attrs.update(_json_safe(attrs))
    dataset.attrs["encoding"] = encoding
    dataset.attrs["nodata"] = "NaN" if encoding == FLOAT_ENCODING else NODATA_CODE
    if encoding == INT8_ENCODING:
        dataset.attrs["dequantisation"] = DEQUANTISATION
    # Listing spatial_ref as a coordinate makes xarray restore it as one on
    # read, which is what rioxarray needs to find the CRS and transform.
    dataset[VARIABLE].encoding["coordinates"] = "spatial_ref"
    dataset.to_zarr(
        path,
        mode="w",
        compute=False,
        zarr_format=2,
        consolidated=True,
        encoding={VARIABLE: {"_FillValue": fill, "chunks": (bands, chunk, chunk)}},
    )


def _json_safe(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(attrs), default=str))


def write_block(path: str | Path, block: Block, values: np.ndarray) -> None:
    """Write ``values`` of shape ``(band, height, width)`` into ``block`` of the store."""
    target = zarr.open_array(store=str(path), path=VARIABLE, mode="r+")
    rows, cols = block.slices
    target[:, rows, cols] = values


def update_attrs(path: str | Path, attrs: Mapping[str, Any]) -> None:
    """Add ``attrs`` to the global attributes of a store and refresh its consolidated metadata."""
    group = zarr.open_group(store=str(path), mode="r+", zarr_format=2)
    group.attrs.update(_json_safe(attrs))
    zarr.consolidate_metadata(str(path), zarr_format=2)


def read_attrs(path: str | Path) -> dict[str, Any]:
    """Return the global attributes of a store."""
    _check_store(path)
    return dict(zarr.open_group(store=str(path), mode="r").attrs)


def _check_store(path: str | Path) -> None:
    path = Path(path)
    if not (path / ".zgroup").exists() and not (path / "zarr.json").exists():
        raise InvalidRasterError(
            f"{path} is not a Zarr store written by this workflow. "
            "Rerun the rule that creates it (delete the folder first if it is left over from an interrupted run)."
        )


def open_embedding(path: str | Path) -> xr.DataArray:
    """Open a store as a lazy float32 ``(band, y, x)`` array with NaN where there is no data."""
    _check_store(path)
    dataset = xr.open_zarr(path, mask_and_scale=False, consolidated=True)
    array = dataset[VARIABLE]
    encoding = dataset.attrs.get("encoding")
    if encoding == INT8_ENCODING:
        decoded = array.data.map_blocks(dequantise, dtype=np.float32)
        array = array.copy(data=decoded)
    elif encoding != FLOAT_ENCODING:
        raise InvalidRasterError(f"{path}: unknown encoding attribute {encoding!r}; expected aef-int8 or float32.")
    array.attrs = dict(dataset.attrs)
    return array


def store_grid(array: xr.DataArray) -> Grid:
    """Return the pixel grid of an array opened with :func:`open_embedding`."""
    transform = array.rio.transform()
    if transform.e >= 0 or transform.b != 0 or transform.d != 0:
        raise InvalidRasterError(f"expected a north-up grid, got transform {tuple(transform)}")
    return Grid(
        crs=array.rio.crs.to_string(),
        left=transform.c,
        top=transform.f,
        resolution=transform.a,
        width=array.sizes["x"],
        height=array.sizes["y"],
    )


def pixel_validity(array: xr.DataArray):
    """Return a function that checks which pixels of ``array``, given as arrays of rows and columns, have data.

    Only the chunks that contain the requested pixels are read.
    """

    def is_valid(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        first_band = array.isel(band=0).data
        return ~np.isnan(first_band.vindex[np.asarray(rows), np.asarray(cols)].compute())

    return is_valid


class WindowReader:
    """Reads arbitrary windows of an opened store, decoding each chunk once while it stays in a small cache.

    Windows that overlap neighbouring chunks (such as a block plus the halo
    of a pooling window) would otherwise decode up to nine chunks for every
    block. Parts of a window beyond the raster edge read as NaN.
    """

    def __init__(self, array: xr.DataArray, *, cache_chunks: int = 12):
        self.array = array
        self.chunk = store_chunk(array)
        self.height, self.width = array.sizes["y"], array.sizes["x"]
        self.cache_chunks = cache_chunks
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    def _chunk(self, chunk_row: int, chunk_col: int) -> np.ndarray:
        key = (chunk_row, chunk_col)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        rows = slice(chunk_row * self.chunk, min((chunk_row + 1) * self.chunk, self.height))
        cols = slice(chunk_col * self.chunk, min((chunk_col + 1) * self.chunk, self.width))
        values = self.array.isel(y=rows, x=cols).values
        self._cache[key] = values
        if len(self._cache) > self.cache_chunks:
            self._cache.popitem(last=False)
        return values

    def read(self, first_row: int, last_row: int, first_col: int, last_col: int) -> np.ndarray:
        """Return rows ``first_row:last_row`` and columns ``first_col:last_col`` as float32."""
        window = np.full(
            (self.array.sizes["band"], last_row - first_row, last_col - first_col), np.nan, dtype=np.float32
        )
        rows = range(max(first_row, 0) // self.chunk, (min(last_row, self.height) - 1) // self.chunk + 1)
        cols = range(max(first_col, 0) // self.chunk, (min(last_col, self.width) - 1) // self.chunk + 1)
        for chunk_row in rows:
            for chunk_col in cols:
                values = self._chunk(chunk_row, chunk_col)
                top, left = chunk_row * self.chunk, chunk_col * self.chunk
                row_from, row_to = max(first_row, top), min(last_row, top + values.shape[1])
                col_from, col_to = max(first_col, left), min(last_col, left + values.shape[2])
                if row_from >= row_to or col_from >= col_to:
                    continue
                window[:, row_from - first_row : row_to - first_row, col_from - first_col : col_to - first_col] = (
                    values[:, row_from - top : row_to - top, col_from - left : col_to - left]
                )
        return window


def store_chunk(array: xr.DataArray) -> int:
    """Return the spatial chunk size of a store (the first y chunk)."""
    return int(array.chunks[1][0])
