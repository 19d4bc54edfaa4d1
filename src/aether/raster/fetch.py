"""Read the AlphaEarth tiles of an area from a public mirror, window by window, over HTTP.

A mirror publishes one Cloud-Optimised GeoTIFF per UTM cell and year and an
index table with a row per tile. This module reads the index, picks the
tiles of the configured year whose lon/lat bounds intersect the area, and
reads from each only the window that covers the area, through GDAL's HTTP
range requests (``/vsicurl/``). Each window is kept under the cache folder as
a north-up int8 GeoTIFF, so a second run (or another city in the same tile)
reads nothing from the network again.

The index needs a path column (absolute URL, or relative to the index's own
folder), a year column and four lon/lat bound columns. Their names are
configurable because mirrors differ.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urljoin, urlparse

import numpy as np
import pandas as pd
import rasterio
from rasterio.warp import transform_bounds

from aether.exceptions import ConfigError, InvalidRasterError, NoDataError
from aether.io import atomic_output
from aether.raster import store
from aether.raster.codec import NODATA_CODE
from aether.raster.grid import Grid
from aether.raster.ingest import REMOTE_GDAL_OPTIONS, inspect_raster, read_block
from aether.raster.mosaic import Area, footprint_block, plan_grid, working_crs

logger = logging.getLogger(__name__)

DEFAULT_COLUMNS = {
    "path": "path",
    "year": "year",
    "west": "wgs84_west",
    "south": "wgs84_south",
    "east": "wgs84_east",
    "north": "wgs84_north",
}
# Rows read and written at a time, which bounds memory: 64 bands x 1024 rows x tile width bytes.
STRIP_ROWS = 1024
# Pixels added around the area's window so that reprojection has its neighbours.
MARGIN = 2
def is_url(reference: str) -> bool:
    return urlparse(str(reference)).scheme in ("http", "https")


def read_index(index: str, cache: Path, columns: Mapping[str, str]) -> pd.DataFrame:
    """Download (once) and read the mirror's tile index; check that it has the configured columns.

    Raises:
        ConfigError: the index cannot be downloaded or read, or lacks a column.
    """
    suffix = ".parquet" if str(index).lower().endswith((".parquet", ".geoparquet")) else ".csv"
    if is_url(index):
        local = cache / "index" / (hashlib.sha256(index.encode()).hexdigest()[:16] + suffix)
        if not local.exists():
            try:
                with urllib.request.urlopen(index, timeout=60) as response, atomic_output(local) as temporary:
                    with open(temporary, "wb") as handle:
                        shutil.copyfileobj(response, handle)
            except (urllib.error.URLError, OSError) as error:
                raise ConfigError(
                    f"alphaearth.fetch.index: cannot download {index} ({error}). Check the URL and the network, "
                    "or download the index and give its local path."
                ) from error
    else:
        local = Path(index)
        if not local.exists():
            raise ConfigError(f"alphaearth.fetch.index: {index} does not exist.")
    try:
        table = pd.read_parquet(local) if suffix == ".parquet" else pd.read_csv(local)
    except Exception as error:  # noqa: BLE001 - pandas raises many error types for unreadable files
        raise ConfigError(f"alphaearth.fetch.index: {index} cannot be read as {suffix[1:]} ({error}).") from error
    missing = [f"{key} ({name!r})" for key, name in columns.items() if name not in table.columns]
    if missing:
        raise ConfigError(
            f"alphaearth.fetch.index: {index} has no column for {', '.join(missing)}; its columns are "
            f"{', '.join(map(str, table.columns))}. Set alphaearth.fetch.columns to the mirror's names."
        )
    return table


def select_tiles(table: pd.DataFrame, index: str, area: Area, year: int, columns: Mapping[str, str]) -> list[str]:
    """Return the URLs (or paths) of the tiles of ``year`` whose bounds intersect the area.

    Raises:
        NoDataError: no tile intersects the area in that year.
    """
    west, south, east, north = area.bounds
    rows = table[
        (table[columns["year"]] == year)
        & (table[columns["west"]] < east)
        & (table[columns["east"]] > west)
        & (table[columns["south"]] < north)
        & (table[columns["north"]] > south)
    ]
    if rows.empty:
        years = sorted(table[columns["year"]].dropna().unique().tolist())
        raise NoDataError(
            f"No tile of {index} for the year {year} intersects the area of interest ({area.description}). "
            f"The index holds the years {years}; check alphaearth.fetch.year and alphaearth.area (longitude first)."
        )
    base = index if is_url(index) else str(Path(index).resolve().parent) + "/"
    return [_join(base, str(path)) for path in rows[columns["path"]]]


def _join(base: str, path: str) -> str:
    if is_url(path) or path.startswith("/"):
        return path
    if is_url(base):
        return urljoin(base, path)
    return str(Path(base) / path)


def fetch_window(url: str, footprint: Grid, cache: Path, year: int) -> Path | None:
    """Copy the window of one tile that covers the working grid into the cache; None when they do not overlap.

    The copy is north-up whatever the tile's orientation, keeps the int8
    codes, and is reused when it already exists.
    """
    gdal_path = "/vsicurl/" + url if is_url(url) else url
    with rasterio.Env(**REMOTE_GDAL_OPTIONS):
        info = inspect_raster(gdal_path, encoding=store.INT8_ENCODING)
        block = footprint_block(info.grid, footprint, margin=MARGIN)
        if block is None:
            return None
        stem = Path(urlparse(url).path).stem
        target = cache / str(year) / f"{stem}_r{block.row}_c{block.col}_{block.height}x{block.width}.tif"
        if target.exists():
            logger.info("Reusing %s", target)
            return target
        window_grid = Grid(
            info.grid.crs,
            info.grid.left + block.col * info.grid.resolution,
            info.grid.top - block.row * info.grid.resolution,
            info.grid.resolution,
            block.width,
            block.height,
        )
        profile = {
            "driver": "GTiff",
            "dtype": "int8",
            "count": 64,
            "height": block.height,
            "width": block.width,
            "crs": info.grid.crs,
            "transform": window_grid.transform,
            "nodata": NODATA_CODE,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
        }
        with atomic_output(target) as temporary, rasterio.open(gdal_path) as source:
            with rasterio.open(temporary, "w", **profile) as output:
                for first in range(0, block.height, STRIP_ROWS):
                    height = min(STRIP_ROWS, block.height - first)
                    strip = store.Block(block.row + first, block.col, height, block.width)
                    codes = read_block(source, info, strip).astype(np.int8)
                    output.write(codes, window=rasterio.windows.Window(0, first, block.width, height))
                output.update_tags(source_url=url, year=str(year))
    logger.info("Fetched %dx%d px of %s into %s", block.width, block.height, url, target)
    return target


def fetch_alphaearth(
    index: str,
    area: Area,
    *,
    year: int,
    cache: str | Path,
    manifest: str | Path,
    columns: Mapping[str, str] | None = None,
    crs: str = "auto",
    resolution: float = 10,
) -> list[Path]:
    """Fetch the windows of every tile that intersects the area and list them in a JSON manifest.

    Each window covers the working grid (the area in ``crs``, snapped to
    ``resolution``), which reaches a little beyond the lon/lat box, so the
    mosaic of fetched windows equals the mosaic of whole tiles.

    Raises:
        ConfigError: the index is unreadable or lacks columns.
        NoDataError: no tile intersects the area.
        InvalidRasterError: a tile cannot be read (the message names its URL).
    """
    columns = {**DEFAULT_COLUMNS, **(columns or {})}
    cache = Path(cache)
    table = read_index(index, cache, columns)
    urls = select_tiles(table, index, area, year, columns)
    footprint = plan_grid([], area, working_crs(crs, area, []), resolution)
    logger.info("%d tiles of %s intersect %s in %d", len(urls), index, area.description, year)
    files = []
    for url in urls:
        try:
            path = fetch_window(url, footprint, cache, year)
        except rasterio.errors.RasterioIOError as error:
            raise InvalidRasterError(
                f"{url}: cannot be read over HTTP ({error}). Check that the mirror serves the path listed in "
                f"{index} and answers range requests."
            ) from error
        if path is not None:
            files.append(path)
    if not files:
        raise NoDataError(f"None of the {len(urls)} tiles listed for {area.description} overlaps it once projected.")
    with atomic_output(manifest) as temporary:
        Path(temporary).write_text(
            json.dumps({"index": index, "year": year, "area": area.description, "files": [str(f) for f in files]}, indent=1)
        )
    return files


def read_manifest(path: str | Path) -> list[str]:
    """Return the local files that a fetch wrote, as listed in its manifest."""
    return json.loads(Path(path).read_text())["files"]
