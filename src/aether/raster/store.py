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
    """Return a function that tells, for arrays of rows and columns, which pixels of ``array`` hold data.

    Only the chunks that contain the requested pixels are read.
    """

    def is_valid(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        first_band = array.isel(band=0).data
        return ~np.isnan(first_band.vindex[np.asarray(rows), np.asarray(cols)].compute())

    return is_valid


def store_chunk(array: xr.DataArray) -> int:
    """Return the spatial chunk size of a store (the first y chunk)."""
    return int(array.chunks[1][0])
