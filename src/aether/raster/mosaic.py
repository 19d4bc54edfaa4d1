"""Mosaic AlphaEarth files of any number, orientation and UTM zone onto one working grid.

A city often spans several public tiles, sometimes in two UTM zones, and
users may add Earth Engine exports in yet another CRS. This module

1. resolves the configured files and globs and reads their headers;
2. settles the working grid: the area of interest (a lon/lat bounding box or
   a boundary file) in the working CRS (by default the UTM zone of the area's
   centre), snapped to the resolution;
3. cuts that grid into tiles, each a whole number of Zarr chunks, so that
   Snakemake can run one job per tile (the tile list depends only on the
   configuration and the file headers, never on a checkpoint);
4. fills each tile block by block and reads only the windows of the files
   that intersect the block. A file already on the working grid is read
   directly. For other files, each output pixel takes the file pixel that
   contains its centre (nearest neighbour), so every output pixel keeps the
   unchanged vector (or int8 code) of one input pixel;
5. assembles the tiles into the store by linking their chunk files, without
   decoding or copying a single pixel.

Where files overlap, the first file with data wins; files already in the
working CRS come before the others, then the configured order.
"""

from __future__ import annotations

import functools
import glob
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.features import geometry_mask
from rasterio.warp import transform_bounds, transform_geom

from aether.exceptions import ConfigError, InvalidRasterError, NoDataError
from aether.io import atomic_output
from aether.logs import progress
from aether.paths import resolve_path
from aether.raster import store
from aether.raster.codec import EMBEDDING_DIM, NODATA_CODE, dequantise
from aether.raster.grid import Grid, utm_crs
from aether.raster.ingest import (
    REMOTE_GDAL_OPTIONS,
    RasterInfo,
    check_unit_length,
    decode_window,
    inspect_raster,
    open_raster,
    read_block,
)

logger = logging.getLogger(__name__)

LONLAT = "EPSG:4326"
# GDAL's block cache per tile job. Its default, 5 % of the machine's memory,
# lets a job grow to several GB on a large node without making it faster.
# Measured with benchmarks/tiling.py on a 24 GB machine: 403 MB and 4.5 s per
# 2048 x 2048 tile with 256 MB, against 812 MB and 4.7 s with the default.
GDAL_CACHE_MB = 256
UNIT_CHECK_STRIDE = 4
# Marks a tile store as complete. The assembly rejects tiles without it.
TILE_KIND = "alphaearth-tile"


# ---------------------------------------------------------------------------
# Configuration: files, area, working grid and tiles
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """One configured input file and how to decode it (auto, aef-int8 or float32)."""

    path: str
    encoding: str = "auto"

    @property
    def is_remote(self) -> bool:
        """True for files GDAL reads over the network (/vsicurl/...), which Snakemake cannot track."""
        return self.path.startswith("/vsi")


def expand_sources(entries: Sequence[str | Mapping[str, str]], default_encoding: str = "auto") -> list[SourceFile]:
    """Resolve the ``alphaearth.files`` entries (paths, globs or ``{path, encoding}`` maps) to files.

    Globs expand in sorted order; a plain path is kept even if it does not
    exist yet, so that Snakemake can report or build it.

    Raises:
        ConfigError: a glob matches nothing.
    """
    sources: list[SourceFile] = []
    for entry in entries:
        if isinstance(entry, Mapping):
            reference, encoding = entry["path"], entry.get("encoding", default_encoding)
        else:
            reference, encoding = entry, default_encoding
        if reference.startswith(("http://", "https://")):
            sources.append(SourceFile("/vsicurl/" + reference, encoding))
            continue
        if reference.startswith("/vsi"):
            sources.append(SourceFile(reference, encoding))
            continue
        path = str(resolve_path(reference))
        if glob.has_magic(path):
            matches = sorted(glob.glob(path))
            if not matches:
                raise ConfigError(
                    f"alphaearth.files: the pattern {reference!r} matches no file (searched from {Path.cwd()}). "
                    "Check the folder and the extension, or list the files one by one."
                )
            sources.extend(SourceFile(match, encoding) for match in matches)
        else:
            sources.append(SourceFile(path, encoding))
    return sources


@dataclass(frozen=True)
class Area:
    """The area of interest in lon/lat: its bounds and, for a boundary file, its shape."""

    bounds: tuple[float, float, float, float]
    description: str
    geometry: dict | None = None

    def geometry_in(self, crs: str) -> dict | None:
        """Return the boundary shape as GeoJSON in ``crs``, or None for a plain bounding box."""
        if self.geometry is None:
            return None
        return transform_geom(LONLAT, crs, self.geometry)


def load_area(setting: Mapping[str, Any] | None) -> Area | None:
    """Read ``alphaearth.area``: ``{bbox: [west, south, east, north]}`` in degrees or ``{boundary: FILE}``.

    Raises:
        ConfigError: a malformed box, or a boundary file that cannot be read,
            has no CRS or contains no polygon.
    """
    if not setting:
        return None
    if "bbox" in setting:
        west, south, east, north = (float(value) for value in setting["bbox"])
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ConfigError(
                f"alphaearth.area.bbox {list(setting['bbox'])} is not [west, south, east, north] in degrees "
                "with west < east and south < north. Write it in longitude and latitude, for example "
                "[-0.51, 51.28, 0.34, 51.69]."
            )
        return Area((west, south, east, north), f"bbox [{west}, {south}, {east}, {north}]")
    return _load_boundary(setting["boundary"])


def _load_boundary(reference: str) -> Area:
    import geopandas as gpd

    path = resolve_path(reference)
    if not path.exists():
        raise ConfigError(f"alphaearth.area.boundary: {path} does not exist. Point it at a GeoJSON, GPKG or shapefile.")
    try:
        frame = gpd.read_file(path)
    except Exception as error:  # noqa: BLE001 - the reader raises many error types; all mean an unreadable file
        raise ConfigError(f"alphaearth.area.boundary: {path} cannot be read as vector data ({error}).") from error
    if frame.crs is None:
        raise ConfigError(
            f"alphaearth.area.boundary: {path} has no CRS. Save it with its CRS (for example as GeoJSON in "
            "EPSG:4326) and run again."
        )
    polygons = frame[frame.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise ConfigError(
            f"alphaearth.area.boundary: {path} contains no polygon (found {sorted(set(frame.geom_type))}). "
            "The boundary must be one or more polygons."
        )
    shape = polygons.to_crs(LONLAT).union_all()
    west, south, east, north = shape.bounds
    return Area((west, south, east, north), f"boundary {path}", shape.__geo_interface__)


def working_crs(setting: str, area: Area | None, infos: Sequence[RasterInfo]) -> str:
    """Return the CRS of the working grid: as configured, or for ``auto`` the UTM zone of the area's centre."""
    if setting != "auto":
        try:
            return CRS.from_user_input(setting).to_string()
        except Exception as error:  # noqa: BLE001 - pyproj raises CRSError and others
            raise ConfigError(
                f"alphaearth.crs: {setting!r} is not a CRS pyproj knows. Use an EPSG code such as EPSG:32630, "
                "or auto for the UTM zone of the area's centre."
            ) from error
    west, south, east, north = area.bounds if area else _union_lonlat(infos)
    return utm_crs((west + east) / 2, (south + north) / 2)


def _union_lonlat(infos: Sequence[RasterInfo]) -> tuple[float, float, float, float]:
    boxes = [transform_bounds(info.grid.crs, LONLAT, *info.grid.bounds, densify_pts=21) for info in infos]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def plan_grid(infos: Sequence[RasterInfo], area: Area | None, crs: str, resolution: float) -> Grid:
    """Return the working grid: the area (or the union of the files) in ``crs``, snapped to ``resolution``.

    Raises:
        InvalidRasterError: the area intersects none of the files.
    """
    if area is None:
        boxes = [transform_bounds(info.grid.crs, crs, *info.grid.bounds, densify_pts=21) for info in infos]
        bounds = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        return Grid.from_bounds(crs, bounds, resolution)

    grid = Grid.from_bounds(crs, transform_bounds(LONLAT, crs, *area.bounds, densify_pts=21), resolution)
    if infos and not any(_intersects(info, grid) for info in infos):
        listed = "; ".join(
            f"{info.path} covers lon/lat {_format_box(transform_bounds(info.grid.crs, LONLAT, *info.grid.bounds))}"
            for info in infos
        )
        raise InvalidRasterError(
            f"The area of interest ({area.description}) intersects none of the AlphaEarth files: {listed}. "
            "Check alphaearth.area (longitude first) or add the files that cover the area."
        )
    return grid


def _format_box(box: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.4f}" for value in box) + "]"


def _intersects(info: RasterInfo, grid: Grid) -> bool:
    left, bottom, right, top = transform_bounds(grid.crs, info.grid.crs, *grid.bounds, densify_pts=21)
    f_left, f_bottom, f_right, f_top = info.grid.bounds
    return left < f_right and right > f_left and bottom < f_top and top > f_bottom


@dataclass(frozen=True)
class Tile:
    """One parallel job's part of the working grid, a whole number of chunks."""

    name: str
    block: store.Block


def plan_tiles(grid: Grid, *, tile: int, chunk: int) -> list[Tile]:
    """Cut the grid into tiles of ``tile`` pixels (rounded up to whole chunks), named ``r<row>c<col>``."""
    size = max(chunk, -(-tile // chunk) * chunk)
    return [
        Tile(f"r{block.row // size:03d}c{block.col // size:03d}", block) for block in store.iter_blocks(grid, size)
    ]


def grid_to_dict(grid: Grid) -> dict[str, Any]:
    return {
        "crs": grid.crs,
        "left": grid.left,
        "top": grid.top,
        "resolution": grid.resolution,
        "width": grid.width,
        "height": grid.height,
    }


def grid_from_dict(values: Mapping[str, Any]) -> Grid:
    return Grid(values["crs"], values["left"], values["top"], values["resolution"], values["width"], values["height"])


def store_encoding(infos: Iterable[RasterInfo]) -> str:
    """Return the store encoding: int8 codes when every file contains them (lossless, a quarter of the size), else float32."""
    encodings = {info.encoding for info in infos}
    return store.INT8_ENCODING if encodings == {store.INT8_ENCODING} else store.FLOAT_ENCODING


# ---------------------------------------------------------------------------
# Reading blocks of the working grid
# ---------------------------------------------------------------------------


class BlockReader:
    """Fills blocks of the working grid from the input files, keeping each file open once."""

    def __init__(self, infos: Sequence[RasterInfo], grid: Grid, *, encoding: str, boundary: dict | None = None):
        self.grid = grid
        self.encoding = encoding
        self.boundary = boundary
        # Files on the working CRS first: they need no resampling.
        self.infos = sorted(infos, key=lambda info: not _same_crs(info.grid.crs, grid.crs))
        self._datasets: dict[Path, Any] = {}
        self.valid_pixels = 0

    def close(self) -> None:
        for dataset in self._datasets.values():
            dataset.close()
        self._datasets.clear()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def read(self, block: store.Block) -> np.ndarray:
        """Return the block as stored: int8 codes or float32 values, nodata where no file has data."""
        block_grid = _sub_grid(self.grid, block)
        if self.encoding == store.INT8_ENCODING:
            out = np.full((EMBEDDING_DIM, block.height, block.width), NODATA_CODE, dtype=np.int8)
        else:
            out = np.full((EMBEDDING_DIM, block.height, block.width), np.nan, dtype=np.float32)
        missing = np.ones((block.height, block.width), dtype=bool)
        for info in self.infos:
            if not missing.any():
                break
            if not _intersects(info, block_grid):
                continue
            raw = self._read_source(info, block)
            # Every pixel's validity, but the unit-length check on every fourth row and column only:
            # a wrong encoding or scaling affects all pixels alike, and the check is the costliest step.
            sample = decode_window(raw[:, ::UNIT_CHECK_STRIDE, ::UNIT_CHECK_STRIDE], info)
            check_unit_length(sample, info, f"the window at x={block_grid.left:.0f}, y={block_grid.top:.0f}")
            if self.encoding == store.INT8_ENCODING:
                payload, valid = raw, raw[0] != NODATA_CODE
            else:
                payload = decode_window(raw, info)
                valid = ~np.isnan(payload[0])
            take = missing & valid
            np.copyto(out, payload, where=take[None], casting="unsafe")
            missing &= ~take
        if self.boundary is not None:
            outside = geometry_mask([self.boundary], out_shape=missing.shape, transform=block_grid.transform)
            np.copyto(out, NODATA_CODE if self.encoding == store.INT8_ENCODING else np.nan, where=outside[None])
            missing |= outside
        self.valid_pixels += int((~missing).sum())
        return out

    def _read_source(self, info: RasterInfo, block: store.Block) -> np.ndarray:
        if info.path not in self._datasets:
            self._datasets[info.path] = open_raster(_gdal_path(info.path))
        dataset = self._datasets[info.path]
        if _aligned(info.grid, self.grid):
            return _read_aligned(dataset, info, self.grid, block)
        return _read_reprojected(dataset, info, _sub_grid(self.grid, block))


def _gdal_path(path: Path | str) -> str:
    text = str(path)
    if text.startswith(("http:/", "https:/")):
        # Path() collapses the double slash of a URL.
        return "/vsicurl/" + re.sub(r"^(https?):/+", r"\1://", text)
    return text


def _same_crs(first: str, second: str) -> bool:
    return first == second or CRS.from_user_input(first) == CRS.from_user_input(second)


def _aligned(source: Grid, target: Grid) -> bool:
    """True when the source pixels coincide with working-grid pixels, so a window read is exact."""
    if not _same_crs(source.crs, target.crs) or not np.isclose(source.resolution, target.resolution):
        return False
    column_offset = (source.left - target.left) / target.resolution
    row_offset = (target.top - source.top) / target.resolution
    return bool(np.isclose(column_offset, round(column_offset)) and np.isclose(row_offset, round(row_offset)))


def _sub_grid(grid: Grid, block: store.Block) -> Grid:
    return Grid(
        grid.crs,
        grid.left + block.col * grid.resolution,
        grid.top - block.row * grid.resolution,
        grid.resolution,
        block.width,
        block.height,
    )


def _read_aligned(dataset, info: RasterInfo, grid: Grid, block: store.Block) -> np.ndarray:
    """Read the part of ``block`` that a pixel-aligned file covers; the rest is nodata."""
    # The block in the file's own (north-up) rows and columns, clipped to the file.
    first_row = block.row + round((info.grid.top - grid.top) / grid.resolution)
    first_col = block.col + round((grid.left - info.grid.left) / grid.resolution)
    rows = slice(max(first_row, 0), min(first_row + block.height, info.grid.height))
    cols = slice(max(first_col, 0), min(first_col + block.width, info.grid.width))
    fill = _fill_value(info)
    dtype = dataset.dtypes[0]
    raw = np.full((EMBEDDING_DIM, block.height, block.width), fill, dtype=dtype)
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return raw
    part = read_block(
        dataset, info, store.Block(rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start)
    )
    raw[:, rows.start - first_row : rows.stop - first_row, cols.start - first_col : cols.stop - first_col] = part
    return raw


def _fill_value(info: RasterInfo) -> float:
    """Return the raw value that marks a pixel without data in a file's own encoding."""
    if info.encoding == store.INT8_ENCODING:
        return NODATA_CODE
    # Earth Engine exports without a nodata value mark masked pixels with zero vectors.
    return info.nodata if info.nodata is not None else 0


@functools.lru_cache(maxsize=16)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _read_reprojected(dataset, info: RasterInfo, block_grid: Grid) -> np.ndarray:
    """Resample a file in another CRS onto ``block_grid`` with nearest neighbour.

    Each output pixel takes the file pixel that contains its centre, so it
    keeps an unchanged input vector. Only the file window under the block is
    read. (Mapping the pixel centres directly was measured 25 times faster
    than GDAL's warper on 64-band blocks, which warps band by band.)
    """
    xs, ys = np.meshgrid(block_grid.x_coords(), block_grid.y_coords())
    source_x, source_y = _transformer(block_grid.crs, info.grid.crs).transform(xs, ys)
    rows, cols = info.grid.rowcol(source_x, source_y)
    inside = info.grid.contains(rows, cols)
    out = np.full((EMBEDDING_DIM, block_grid.height, block_grid.width), _fill_value(info), dtype=dataset.dtypes[0])
    if not inside.any():
        return out
    rows, cols = rows[inside], cols[inside]
    first_row, first_col = int(rows.min()), int(cols.min())
    window = store.Block(first_row, first_col, int(rows.max()) - first_row + 1, int(cols.max()) - first_col + 1)
    raw = read_block(dataset, info, window)
    out[:, inside] = raw[:, rows - first_row, cols - first_col]
    return out


# ---------------------------------------------------------------------------
# Tiles and their assembly
# ---------------------------------------------------------------------------


def write_tile(
    paths: Sequence[SourceFile],
    grid: Grid,
    tile: store.Block,
    output: str | Path,
    *,
    chunk: int,
    area: Area | None = None,
    encoding: str | None = None,
) -> int:
    """Fill one tile of the working grid from the files that intersect it and write it as a Zarr store.

    Memory use is bounded by a few blocks of ``64 x chunk x chunk`` values,
    whatever the size of the files or the tile.

    Args:
        encoding: the encoding of the whole store (see :func:`store_encoding`
            over all files). Every tile must use it, including a tile that
            only int8 files cover in a mosaic that also has float files.
            None derives it from ``paths``.

    Returns:
        The number of valid pixels in the tile.
    """
    infos = [inspect_raster(source.path, encoding=source.encoding) for source in paths]
    encoding = encoding or store_encoding(infos)
    tile_grid = _sub_grid(grid, tile)
    relevant = [info for info in infos if _intersects(info, tile_grid)]
    boundary = area.geometry_in(grid.crs) if area else None
    with (
        rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, **REMOTE_GDAL_OPTIONS),
        atomic_output(output) as temporary,
        BlockReader(relevant, tile_grid, encoding=encoding, boundary=boundary) as reader,
    ):
        store.create_store(
            temporary,
            tile_grid,
            bands=EMBEDDING_DIM,
            encoding=encoding,
            chunk=chunk,
            attrs={"kind": TILE_KIND, "row": tile.row, "col": tile.col},
        )
        if relevant:
            for block in progress(list(store.iter_blocks(tile_grid, chunk)), desc="tile", unit="block"):
                store.write_block(temporary, block, reader.read(block))
        store.update_attrs(
            temporary,
            {
                "valid_pixels": reader.valid_pixels,
                "files": [str(info.path) for info in relevant],
                "standin_layers": sorted({layer for info in relevant for layer in info.standin_layers}),
                "standin_sources": sorted({info.standin_source or "unknown" for info in relevant if info.standin}),
            },
        )
    logger.info(
        "Tile at row %d, column %d (%dx%d px): %d valid pixels from %d of %d files",
        tile.row,
        tile.col,
        tile.width,
        tile.height,
        reader.valid_pixels,
        len(relevant),
        len(infos),
    )
    return reader.valid_pixels


def assemble_tiles(
    tiles: Sequence[str | Path],
    grid: Grid,
    output: str | Path,
    *,
    chunk: int,
    attrs: Mapping[str, Any],
    area: Area | None = None,
) -> int:
    """Join tile stores into one store on ``grid`` by linking their chunk files (no pixel is decoded).

    Raises:
        InvalidRasterError: a tile is incomplete or was written with other settings.
        NoDataError: no tile holds a valid pixel.
    """
    encodings = {store.read_attrs(tile).get("encoding") for tile in tiles}
    if len(encodings) != 1:
        raise InvalidRasterError(
            f"The tiles were written with different encodings ({sorted(map(str, encodings))}); "
            "delete results/<city>/alphaearth/tiles and run again."
        )
    encoding = encodings.pop()
    valid_pixels = 0
    files: set[str] = set()
    standin_layers: set[str] = set()
    standin_sources: set[str] = set()
    with atomic_output(output) as temporary:
        store.create_store(temporary, grid, bands=EMBEDDING_DIM, encoding=encoding, chunk=chunk, attrs={})
        for tile in tiles:
            tile_attrs = store.read_attrs(tile)
            if tile_attrs.get("kind") != TILE_KIND or "valid_pixels" not in tile_attrs:
                raise InvalidRasterError(f"{tile} is not a complete AlphaEarth tile; delete it and run again.")
            if tile_attrs["row"] % chunk or tile_attrs["col"] % chunk:
                raise InvalidRasterError(f"{tile} does not start on a chunk boundary of {chunk} px; delete it and run again.")
            _link_chunks(Path(tile), Path(temporary), tile_attrs["row"] // chunk, tile_attrs["col"] // chunk)
            valid_pixels += int(tile_attrs["valid_pixels"])
            files.update(tile_attrs.get("files", []))
            standin_layers.update(tile_attrs.get("standin_layers", []))
            standin_sources.update(tile_attrs.get("standin_sources", []))
        if valid_pixels == 0:
            where = area.description if area else f"the extent of {len(files) or 'the'} files"
            raise NoDataError(
                f"Every pixel of the area of interest ({where}) is nodata in the AlphaEarth files "
                f"({', '.join(sorted(files)) or 'none intersect'}). Check that the files cover the area and year."
            )
        provenance = {
            "source_files": sorted(files),
            "valid_pixels": valid_pixels,
            # A mosaic of stand-in files is a stand-in too; evaluation and reports rely on these.
            "standin": bool(standin_sources),
            "standin_source": ", ".join(sorted(standin_sources)),
            "standin_layers": sorted(standin_layers),
        }
        store.update_attrs(temporary, {**attrs, **provenance})
    logger.info("Assembled %d tiles into %s: %dx%d px, %d valid", len(tiles), output, grid.width, grid.height, valid_pixels)
    return valid_pixels


_CHUNK_KEY = re.compile(r"^(\d+)([./])(\d+)\2(\d+)$")


def _link_chunks(tile: Path, target: Path, row_offset: int, col_offset: int) -> None:
    """Hard-link (or copy, across file systems) a tile's chunk files under their keys in the whole grid."""
    source_dir, target_dir = tile / store.VARIABLE, target / store.VARIABLE
    for entry in os.scandir(source_dir):
        match = _CHUNK_KEY.match(entry.name)
        if not match:
            continue
        band, separator, row, col = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
        destination = target_dir / f"{band}{separator}{row + row_offset}{separator}{col + col_offset}"
        try:
            os.link(entry.path, destination)
        except OSError:
            shutil.copyfile(entry.path, destination)



# Probe windows per file, and their edge in pixels, for the quick data check.
PROBES_PER_SIDE = 8
PROBE_SIZE = 16


def check_area_has_data(infos: Sequence[RasterInfo], grid: Grid, area: Area | None) -> None:
    """Check that at least one file has a valid pixel under the working grid.

    A few small probe windows per file settle the usual case at once. Only
    when every probe is empty is band 1 read in full over the area, so an
    area with data anywhere passes and an all-nodata area is reported before
    any job runs.

    Raises:
        NoDataError: every pixel of the area is nodata in every file.
    """
    covering = [info for info in infos if _intersects(info, grid)]
    for scan in (_probe_has_data, _scan_has_data):
        for info in covering:
            window = footprint_block(info.grid, grid)
            if window is None:
                continue
            with open_raster(info.path) as dataset:
                if scan(dataset, info, window):
                    return
    where = area.description if area else "the extent of the files"
    raise NoDataError(
        f"Every pixel of the area of interest ({where}) is nodata in the AlphaEarth files "
        f"({', '.join(str(info.path) for info in covering)}). Check that the files cover the area and year, "
        "or move alphaearth.area onto them."
    )


def footprint_block(file_grid: Grid, footprint: Grid, *, margin: int = 0) -> store.Block | None:
    """Return the block of ``file_grid`` (north-up rows) under ``footprint``, widened by ``margin`` pixels.

    Returns None when the two grids do not overlap.
    """
    left, bottom, right, top = transform_bounds(footprint.crs, file_grid.crs, *footprint.bounds, densify_pts=21)
    resolution = file_grid.resolution
    first_col = max(int(np.floor((left - file_grid.left) / resolution)) - margin, 0)
    last_col = min(int(np.ceil((right - file_grid.left) / resolution)) + margin, file_grid.width)
    first_row = max(int(np.floor((file_grid.top - top) / resolution)) - margin, 0)
    last_row = min(int(np.ceil((file_grid.top - bottom) / resolution)) + margin, file_grid.height)
    if first_col >= last_col or first_row >= last_row:
        return None
    return store.Block(first_row, first_col, last_row - first_row, last_col - first_col)


def _has_valid(raw: np.ndarray, info: RasterInfo) -> bool:
    """Tell whether band 1 of a raw window has a pixel with data (zero counts as missing in float exports)."""
    if info.encoding == store.INT8_ENCODING:
        return bool((raw != NODATA_CODE).any())
    valid = np.isfinite(raw) & (raw != 0)
    if info.nodata is not None and not np.isnan(info.nodata):
        valid &= raw != info.nodata
    return bool(valid.any())


def _probe_has_data(dataset, info: RasterInfo, window: store.Block) -> bool:
    rows = np.linspace(window.row, window.row + max(window.height - PROBE_SIZE, 0), PROBES_PER_SIDE).astype(int)
    cols = np.linspace(window.col, window.col + max(window.width - PROBE_SIZE, 0), PROBES_PER_SIDE).astype(int)
    for row in np.unique(rows):
        for col in np.unique(cols):
            probe = store.Block(
                int(row), int(col), min(PROBE_SIZE, window.height), min(PROBE_SIZE, window.width)
            )
            if _has_valid(read_block(dataset, info, probe, band=1), info):
                return True
    return False


def _scan_has_data(dataset, info: RasterInfo, window: store.Block) -> bool:
    for first in range(window.row, window.row + window.height, 1024):
        strip = store.Block(first, window.col, min(1024, window.row + window.height - first), window.width)
        if _has_valid(read_block(dataset, info, strip, band=1), info):
            return True
    return False


# ---------------------------------------------------------------------------
# The plan the workflow builds from its configuration before any job runs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MosaicPlan:
    """The working grid, its tiles and the files each tile reads (none when the files are fetched)."""

    grid: Grid
    tiles: list[Tile]
    sources: list[SourceFile]
    infos: list[RasterInfo]
    area: Area | None

    @property
    def encoding(self) -> str:
        """Return the encoding of the store: int8 codes when every file has them, and for fetched public tiles."""
        return store_encoding(self.infos) if self.infos else store.INT8_ENCODING

    def tile(self, name: str) -> Tile:
        return next(tile for tile in self.tiles if tile.name == name)

    def tile_sources(self, name: str) -> list[SourceFile]:
        """Return the configured files that intersect tile ``name``.

        They are the tile job's only inputs, so editing one file reruns only its tiles.
        """
        tile_grid = _sub_grid(self.grid, self.tile(name).block)
        return [source for source, info in zip(self.sources, self.infos) if _intersects(info, tile_grid)]


def plan_mosaic(settings: Mapping[str, Any]) -> MosaicPlan:
    """Settle the working grid and its tiles from the ``alphaearth`` configuration and the file headers.

    Each configured file's header and the centre window of its data are
    checked here, before any job runs, so that a wrong input is reported
    before Snakemake removes the outputs of an earlier run.

    Raises:
        ConfigError: inconsistent settings, a missing file or a glob without matches.
        InvalidRasterError: a file fails a check, or the area misses every file.
    """
    from aether.raster.ingest import preflight_check

    area = load_area(settings.get("area"))
    fetch = settings.get("fetch", {})
    if fetch.get("enabled"):
        if settings.get("files"):
            raise ConfigError(
                "alphaearth.fetch.enabled is true, but alphaearth.files also lists files. Use one or the other."
            )
        if area is None or not fetch.get("index"):
            raise ConfigError(
                "alphaearth.fetch needs alphaearth.area (a bbox or boundary) and alphaearth.fetch.index (the URL of "
                "the mirror's tile index) to know what to read."
            )
        sources, infos = [], []
    else:
        sources = expand_sources(settings["files"], settings.get("encoding", "auto"))
        missing = [source.path for source in sources if not source.is_remote and not Path(source.path).exists()]
        if missing:
            raise ConfigError(
                f"alphaearth.files: {', '.join(missing)} not found (paths are relative to {Path.cwd()}). "
                "Fix the path, or leave alphaearth.files empty to build the stand-in."
            )
        infos = [preflight_check(source.path, encoding=source.encoding) for source in sources]
    crs = working_crs(settings.get("crs", "auto"), area, infos)
    grid = plan_grid(infos, area, crs, settings.get("resolution", 10))
    if infos:
        check_area_has_data(infos, grid, area)
    tiles = plan_tiles(grid, tile=settings.get("tile", 2048), chunk=settings.get("chunk", 256))
    return MosaicPlan(grid, tiles, sources, infos, area)
