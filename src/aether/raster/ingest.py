"""Ingest AlphaEarth GeoTIFFs into the chunked Zarr store, validating them on the way.

Two input forms exist: float GeoTIFFs exported from Earth Engine
(``GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL``) and the int8 tiles of the public
mirrors (see :mod:`aether.raster.codec`). Both must hold 64 bands whose
vectors have unit length once decoded. The checks below catch the usual ways
an input goes wrong: a file with another band count, no CRS, raw int8 codes
declared as float values, or scaled or reordered data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from aether.exceptions import InvalidRasterError, NoDataError
from aether.io import atomic_output
from aether.logs import progress
from aether.raster import store
from aether.raster.codec import EMBEDDING_DIM, MAX_CODE, NODATA_CODE, dequantise
from aether.raster.grid import Grid
from aether.raster.standin import STANDIN_SOURCE_TAG, STANDIN_TAG
from aether.raster.standin_layers import STANDIN_LAYERS_TAG

logger = logging.getLogger(__name__)

# Real AlphaEarth vectors decode to norms within about 0.006 of 1 (measured on
# 2,880 real 2024 vectors). The margin leaves room for float rounding in exports.
NORM_TOLERANCE = 0.02
# Share of valid pixels allowed outside the tolerance before a file is rejected.
MAX_OFF_UNIT_SHARE = 0.01


# GDAL settings for files read over HTTP (/vsicurl/). GDAL opens the file
# without listing its folder first, because a server that does not serve
# folder listings made the open hang. It keeps its HEAD request for the file
# size (without it GDAL starts a plain GET of the whole file), and retries briefly.
REMOTE_GDAL_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
}


def open_raster(path: str | Path) -> rasterio.DatasetReader:
    """Open a local or remote raster; remote ones with :data:`REMOTE_GDAL_OPTIONS`."""
    if str(path).startswith("/vsi"):
        with rasterio.Env(**REMOTE_GDAL_OPTIONS):
            return rasterio.open(path)
    return rasterio.open(path)


@dataclass(frozen=True)
class RasterInfo:
    """Header facts of one input file that ingestion needs."""

    path: Path | str
    grid: Grid
    encoding: str
    bottom_up: bool
    nodata: float | None
    standin: bool
    standin_source: str | None
    standin_layers: tuple[str, ...] = ()


def inspect_raster(path: str | Path, *, encoding: str = "auto") -> RasterInfo:
    """Read a file's header and check its band count, CRS, grid and data type.

    Args:
        path: GeoTIFF (or any GDAL raster) with 64 bands.
        encoding: ``auto`` (int8 means public-tile codes, float means values),
            ``aef-int8`` or ``float32`` to override the detection.

    Raises:
        InvalidRasterError: with the file, what was found and what to do.
    """
    # GDAL virtual paths such as /vsicurl/https://... are opened as they are.
    if not str(path).startswith("/vsi"):
        path = Path(path)
        if not path.is_file():
            raise InvalidRasterError(f"AlphaEarth raster not found: {path}. Check alphaearth.files in the configuration.")
    try:
        dataset = open_raster(path)
    except rasterio.errors.RasterioIOError as error:
        raise InvalidRasterError(f"{path}: cannot be opened as a raster ({error}).") from error

    with dataset:
        if dataset.count != EMBEDDING_DIM:
            raise InvalidRasterError(
                f"{path}: found {dataset.count} bands, but AlphaEarth embeddings have {EMBEDDING_DIM} "
                "(A00..A63). Export all 64 bands of GOOGLE/SATELLITE_EMBEDDING/V1/ANNUAL, or point the "
                "configuration at the right file."
            )
        if dataset.crs is None:
            raise InvalidRasterError(
                f"{path}: the file has no CRS. Assign the CRS it was exported in, for example "
                "gdal_edit.py -a_srs EPSG:32630 FILE, and run again."
            )
        transform = dataset.transform
        if transform.b != 0 or transform.d != 0 or abs(abs(transform.a) - abs(transform.e)) > 1e-9 * abs(transform.a):
            raise InvalidRasterError(
                f"{path}: the grid is rotated or its pixels are not square (transform {tuple(transform)[:6]}). "
                "Warp it to a north-up grid with square pixels (gdalwarp -tr 10 10) first."
            )
        dtype = np.dtype(dataset.dtypes[0])
        detected = _detect_encoding(path, dtype, dataset.nodata, encoding)
        bottom_up = transform.e > 0
        resolution = abs(transform.a)
        top = transform.f + transform.e * dataset.height if bottom_up else transform.f
        grid = Grid(dataset.crs.to_string(), transform.c, top, resolution, dataset.width, dataset.height)
        tags = dataset.tags()

    return RasterInfo(
        path=path,
        grid=grid,
        encoding=detected,
        bottom_up=bottom_up,
        nodata=dataset.nodata,
        standin=tags.get(STANDIN_TAG) == "true",
        standin_source=tags.get(STANDIN_SOURCE_TAG),
        standin_layers=tuple(json.loads(tags.get(STANDIN_LAYERS_TAG, "[]"))),
    )


def _detect_encoding(path: Path, dtype: np.dtype, nodata: float | None, requested: str) -> str:
    if requested not in ("auto", store.INT8_ENCODING, store.FLOAT_ENCODING):
        raise InvalidRasterError(f"{path}: unknown encoding {requested!r}; use auto, aef-int8 or float32.")
    if requested == store.INT8_ENCODING or (requested == "auto" and dtype == np.int8):
        if dtype not in (np.int8, np.int16, np.int32, np.float32, np.float64):
            raise InvalidRasterError(f"{path}: encoding aef-int8 needs signed integer codes, found {dtype}.")
        if nodata is not None and nodata != NODATA_CODE:
            logger.warning("%s: nodata is %s, but public AlphaEarth tiles use %d", path, nodata, NODATA_CODE)
        return store.INT8_ENCODING
    if requested == store.FLOAT_ENCODING and dtype.kind != "f":
        raise InvalidRasterError(
            f"{path}: alphaearth.encoding is float32, but the file contains {dtype} values. Integer files contain the "
            "codes of the public tiles: set the encoding to aef-int8 (or auto) so that they are de-quantised."
        )
    if dtype.kind != "f":
        raise InvalidRasterError(
            f"{path}: data type {dtype} is neither int8 codes nor float values. Public AlphaEarth tiles are "
            "int8 and Earth Engine exports are float32; set alphaearth.encoding if the detection is wrong."
        )
    return store.FLOAT_ENCODING


def decode_window(raw: np.ndarray, info: RasterInfo) -> np.ndarray:
    """Turn raw band values of one window into float32 vectors with NaN where there is no data."""
    if info.encoding == store.INT8_ENCODING:
        return dequantise(raw)
    values = raw.astype(np.float32)
    missing = np.zeros(values.shape[1:], dtype=bool)
    if info.nodata is not None and not np.isnan(info.nodata):
        missing |= (raw == info.nodata).all(axis=0)
    # Earth Engine writes masked pixels as all-zero vectors when no nodata value is set.
    missing |= (values == 0).all(axis=0) | np.isnan(values).any(axis=0)
    values[:, missing] = np.nan
    return values


def check_unit_length(values: np.ndarray, info: RasterInfo, where: str) -> int:
    """Check that the valid vectors of a decoded window have unit length.

    Returns:
        The number of valid pixels in the window.

    Raises:
        InvalidRasterError: more than 1 % of the valid vectors are off unit length.
    """
    valid = ~np.isnan(values[0])
    count = int(valid.sum())
    if count == 0:
        return 0
    vectors = values[:, valid].astype(np.float64)
    norms = np.linalg.norm(vectors, axis=0)
    off = np.abs(norms - 1.0) > NORM_TOLERANCE
    if off.mean() <= MAX_OFF_UNIT_SHARE:
        return count

    median = float(np.median(norms))
    looks_like_codes = np.all(np.abs(vectors) <= MAX_CODE) and np.allclose(vectors, np.round(vectors)) and median > 2
    if info.encoding == store.FLOAT_ENCODING and looks_like_codes:
        fix = (
            "The values are whole numbers in [-127, 127]: these are int8 codes of the public tiles stored as "
            "float. Set alphaearth.encoding: aef-int8 so that they are de-quantised."
        )
    else:
        fix = (
            "AlphaEarth vectors have unit length once decoded. Check that the file holds the 64 bands A00..A63 "
            "unscaled and in order, and that alphaearth.encoding matches how it was written."
        )
    raise InvalidRasterError(
        f"{info.path}: {off.mean():.0%} of the valid vectors in {where} are not unit length "
        f"(median norm {median:.3g}, encoding {info.encoding}). {fix}"
    )


def preflight_check(path: str | Path, *, encoding: str = "auto", size: int = 64) -> RasterInfo:
    """Check a file's header and the unit length of one ``size`` x ``size`` window at its centre.

    Cheap enough to run before any job starts, so that an invalid input is
    reported before Snakemake removes the outputs of an earlier run.
    """
    info = inspect_raster(path, encoding=encoding)
    height, width = min(size, info.grid.height), min(size, info.grid.width)
    block = store.Block((info.grid.height - height) // 2, (info.grid.width - width) // 2, height, width)
    with open_raster(info.path) as dataset:
        values = decode_window(read_block(dataset, info, block), info)
    check_unit_length(values, info, "the centre window")
    return info


def read_block(
    dataset: rasterio.DatasetReader, info: RasterInfo, block: store.Block, *, band: int | None = None
) -> np.ndarray:
    """Read the raw values of a block of the north-up grid, flipping bottom-up files.

    Returns ``(band, height, width)``, or ``(height, width)`` when one ``band`` (1-based) is requested.
    """
    if not info.bottom_up:
        return dataset.read(band, window=Window(block.col, block.row, block.width, block.height))
    first_row = info.grid.height - block.row - block.height
    raw = dataset.read(band, window=Window(block.col, first_row, block.width, block.height))
    return raw[..., ::-1, :]


def ingest_raster(
    path: str | Path,
    output: str | Path,
    *,
    encoding: str = "auto",
    chunk: int = 256,
) -> RasterInfo:
    """Validate one AlphaEarth GeoTIFF and copy it block by block into a Zarr store.

    int8 tiles keep their codes; float exports are stored as float32. Memory
    use is bounded by one block of ``64 x chunk x chunk`` values.

    Raises:
        InvalidRasterError: the file fails a check (see :func:`inspect_raster`
            and :func:`check_unit_length`).
        NoDataError: the file contains no valid pixel.
    """
    info = inspect_raster(path, encoding=encoding)
    attrs = {
        "kind": "alphaearth",
        "source_files": [str(info.path)],
        "standin": info.standin,
        "standin_source": info.standin_source or "",
        "standin_layers": list(info.standin_layers),
    }
    blocks = list(store.iter_blocks(info.grid, chunk))
    valid_pixels = 0
    with atomic_output(output) as temporary, rasterio.open(info.path) as dataset:
        store.create_store(temporary, info.grid, bands=EMBEDDING_DIM, encoding=info.encoding, chunk=chunk, attrs=attrs)
        for block in progress(blocks, desc="ingest", unit="block"):
            raw = read_block(dataset, info, block)
            values = decode_window(raw, info)
            valid_pixels += check_unit_length(values, info, f"rows {block.row}..{block.row + block.height}")
            if info.encoding == store.INT8_ENCODING:
                payload = np.where(np.isnan(values[0]), NODATA_CODE, raw).astype(np.int8)
            else:
                payload = values
            store.write_block(temporary, block, payload)
        if valid_pixels == 0:
            raise NoDataError(
                f"{info.path}: every pixel is nodata. Check that the export covers the area of interest."
            )

    logger.info(
        "Ingested %s (%s, %dx%d px, %s) into %s: %d valid pixels",
        info.path.name,
        info.encoding,
        info.grid.width,
        info.grid.height,
        info.grid.crs,
        output,
        valid_pixels,
    )
    return info
