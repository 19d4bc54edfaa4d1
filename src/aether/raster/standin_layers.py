"""An AlphaEarth-format stand-in built from coarse raster layers, for city-scale benchmarks.

Real AlphaEarth is not available offline, and OSM extracts of whole cities
do not ship with any package. For the London and Singapore benchmarks the
stand-in is therefore built from coarse environmental rasters (for example
land-surface temperature, PM2.5 and road density at 100 m to 1 km):

1. each layer is robustly standardised (median and interquartile range) and
   smoothed at several scales on its own coarse grid;
2. every smoothed layer is resampled bilinearly onto the 10 m UTM grid, one
   block at a time, so memory stays bounded by the block size;
3. fine-scale texture channels are added: value noise on lattices of a few
   tens to hundreds of metres, hashed from the seed and the global pixel
   position, so neighbouring blocks join without seams;
4. a fixed seeded projection maps the features to 64-d unit vectors, which
   are quantised like the public int8 tiles.

Pixels where the first layer has no data are nodata. The layers used are
recorded in the GeoTIFF tags, so that the evaluation can reject a task whose
labels are one of them: a model evaluated on an input of its own stand-in
would look better than it is.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window
from scipy import ndimage

from aether.exceptions import InvalidRasterError, NoDataError
from aether.io import atomic_output
from aether.logs import progress
from aether.raster.codec import BAND_NAMES, NODATA_CODE, quantise
from aether.raster.grid import Grid, utm_crs
from aether.raster.standin import STANDIN_SOURCE_TAG, STANDIN_TAG, random_projection
from aether.raster.store import iter_blocks

logger = logging.getLogger(__name__)

STANDIN_LAYERS_TAG = "AETHER_STANDIN_LAYERS"
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class LayerStandinSettings:
    """Parameters of the raster-layer stand-in.

    Attributes:
        resolution: pixel size in metres.
        seed: seed of the texture and of the projection.
        scales: Gaussian standard deviations in metres applied on each
            layer's own grid; 0 keeps the layer as it is.
        texture_scales: lattice spacings in metres of the value-noise channels.
        texture_weight: amplitude of the texture relative to the standardised layers.
        block: edge in pixels of the blocks written at a time.
        crs: working CRS; ``None`` picks the UTM zone of the first layer's centre.
    """

    resolution: float = 10.0
    seed: int = 0
    scales: tuple[float, ...] = (0.0, 300.0, 1000.0, 3000.0)
    texture_scales: tuple[float, ...] = (30.0, 80.0, 250.0)
    texture_weight: float = 0.6
    block: int = 1024
    hidden: int = 256
    crs: str | None = None


@dataclass
class CoarseFeature:
    """One smoothed, standardised layer on its source grid."""

    values: np.ndarray
    transform: rasterio.Affine
    crs: rasterio.crs.CRS


def _standardise(values: np.ma.MaskedArray) -> np.ndarray:
    data = values.compressed()
    median = float(np.median(data))
    low, high = np.percentile(data, [25, 75])
    spread = float(high - low) or float(np.std(data)) or 1.0
    standardised = np.clip((values.filled(median) - median) / spread, -4.0, 4.0)
    return standardised.astype(np.float32)


def read_coarse_features(paths: list[Path], scales: tuple[float, ...]) -> tuple[list[CoarseFeature], dict]:
    """Standardise and smooth every layer on its own grid; return the features and the reference layer facts."""
    features = []
    reference = None
    for path in paths:
        try:
            dataset = rasterio.open(path)
        except rasterio.errors.RasterioIOError as error:
            raise InvalidRasterError(f"Stand-in layer {path} cannot be opened ({error}).") from error
        with dataset:
            if dataset.crs is None:
                raise InvalidRasterError(f"Stand-in layer {path} has no CRS; assign one with gdal_edit.py -a_srs.")
            values = dataset.read(1, masked=True)
            values.mask = np.ma.getmaskarray(values) | ~np.isfinite(values.filled(np.nan))
            if values.mask.all():
                raise NoDataError(f"Stand-in layer {path} contains no valid pixel.")
            if reference is None:
                reference = {"path": path, "bounds": dataset.bounds, "crs": dataset.crs,
                             "transform": dataset.transform, "valid": (~values.mask).astype(np.uint8)}
            standardised = _standardise(values)
            pixel_metres = _pixel_size_metres(dataset)
            for scale in scales:
                if scale == 0:
                    smoothed = standardised
                else:
                    sigma = (scale / pixel_metres[1], scale / pixel_metres[0])
                    smoothed = ndimage.gaussian_filter(standardised, sigma, mode="nearest")
                features.append(CoarseFeature(smoothed.astype(np.float32), dataset.transform, dataset.crs))
    return features, reference


def _pixel_size_metres(dataset) -> tuple[float, float]:
    """Return the (x, y) pixel size in metres, converting degrees at the raster's mid-latitude."""
    width, height = abs(dataset.transform.a), abs(dataset.transform.e)
    if dataset.crs.is_geographic:
        latitude = (dataset.bounds.bottom + dataset.bounds.top) / 2
        return width * METRES_PER_DEGREE * math.cos(math.radians(latitude)), height * METRES_PER_DEGREE
    return width, height


def _lattice_hash(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """Map integer lattice coordinates to reproducible uniform values in [-1, 1]."""
    key = (rows.astype(np.uint64) * np.uint64(0x9E3779B1)) ^ (cols.astype(np.uint64) * np.uint64(0x85EBCA77))
    key ^= np.uint64(seed) * np.uint64(0xC2B2AE3D)
    key ^= key >> np.uint64(15)
    key *= np.uint64(0x2C1B3C6D)
    key ^= key >> np.uint64(12)
    return (key & np.uint64(0xFFFFFF)).astype(np.float64) / float(0xFFFFFF) * 2.0 - 1.0


def value_noise(rows: np.ndarray, cols: np.ndarray, spacing: float, seed: int) -> np.ndarray:
    """Bilinear value noise at global pixel positions, with lattice nodes every ``spacing`` pixels."""
    y, x = rows / spacing, cols / spacing
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = y - y0, x - x0
    # Smoothstep weights avoid visible lattice lines.
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    corners = [_lattice_hash(y0 + dy, x0 + dx, seed) for dy in (0, 1) for dx in (0, 1)]
    top = corners[0] * (1 - fx) + corners[1] * fx
    bottom = corners[2] * (1 - fx) + corners[3] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _block_features(
    coarse: list[CoarseFeature], grid: Grid, block, settings: LayerStandinSettings
) -> np.ndarray:
    transform = grid.transform * rasterio.Affine.translation(block.col, block.row)
    features = np.zeros((len(coarse) + 2 * len(settings.texture_scales), block.height, block.width), np.float32)
    for index, feature in enumerate(coarse):
        reproject(
            feature.values, features[index], src_transform=feature.transform, src_crs=feature.crs,
            dst_transform=transform, dst_crs=grid.crs, resampling=Resampling.bilinear,
        )
    rows, cols = np.mgrid[block.row : block.row + block.height, block.col : block.col + block.width]
    for offset, spacing_metres in enumerate(settings.texture_scales):
        spacing = spacing_metres / grid.resolution
        for copy in range(2):
            index = len(coarse) + 2 * offset + copy
            features[index] = settings.texture_weight * value_noise(rows, cols, spacing, settings.seed + 7919 * copy + offset)
    return features


def build_layer_standin(
    layer_paths: list[str | Path], output_path: str | Path, settings: LayerStandinSettings = LayerStandinSettings()
) -> Grid:
    """Build the raster-layer stand-in over the first layer's extent and write it as an int8 GeoTIFF.

    Raises:
        InvalidRasterError: a layer cannot be read or has no CRS.
        NoDataError: a layer has no valid pixel.
    """
    paths = [Path(path) for path in layer_paths]
    if not paths:
        raise InvalidRasterError("alphaearth.standin.layers is empty; list at least one raster layer.")
    coarse, reference = read_coarse_features(paths, settings.scales)
    lonlat_bounds = transform_bounds(reference["crs"], "EPSG:4326", *reference["bounds"])
    centre_lon, centre_lat = (lonlat_bounds[0] + lonlat_bounds[2]) / 2, (lonlat_bounds[1] + lonlat_bounds[3]) / 2
    crs = settings.crs or utm_crs(centre_lon, centre_lat)
    grid = Grid.from_bounds(crs, transform_bounds(reference["crs"], crs, *reference["bounds"]), settings.resolution)
    logger.info("Stand-in grid %dx%d px (%s) from %d layers, %d features per pixel",
                grid.width, grid.height, crs, len(paths), len(coarse) + 2 * len(settings.texture_scales))

    profile = {
        "driver": "GTiff", "dtype": "int8", "count": 64, "height": grid.height, "width": grid.width,
        "crs": grid.crs, "transform": grid.transform, "nodata": NODATA_CODE, "tiled": True,
        "blockxsize": 256, "blockysize": 256, "compress": "deflate", "interleave": "pixel", "BIGTIFF": "IF_SAFER",
    }
    valid_pixels = 0
    blocks = list(iter_blocks(grid, settings.block))
    with atomic_output(output_path) as temporary:
        with rasterio.open(temporary, "w", **profile) as dataset:
            for block in progress(blocks, desc="stand-in", unit="block"):
                valid = np.zeros((block.height, block.width), np.uint8)
                block_transform = grid.transform * rasterio.Affine.translation(block.col, block.row)
                reproject(reference["valid"], valid, src_transform=reference["transform"], src_crs=reference["crs"],
                          dst_transform=block_transform, dst_crs=grid.crs, resampling=Resampling.nearest)
                codes = np.full((64, block.height, block.width), NODATA_CODE, dtype=np.int8)
                inside = valid.astype(bool)
                if inside.any():
                    features = _block_features(coarse, grid, block, settings)
                    pixels = features[:, inside].T
                    for start in range(0, len(pixels), 262_144):
                        part = slice(start, start + 262_144)
                        vectors = random_projection(pixels[part], seed=settings.seed, hidden=settings.hidden)
                        index = np.flatnonzero(inside.reshape(-1))[part]
                        flat = codes.reshape(64, -1)
                        flat[:, index] = quantise(vectors.T)
                    valid_pixels += int(inside.sum())
                window = Window(block.col, block.row, block.width, block.height)
                dataset.write(codes, window=window)
            for band, name in enumerate(BAND_NAMES, start=1):
                dataset.set_band_description(band, name)
            dataset.update_tags(**{
                STANDIN_TAG: "true",
                STANDIN_SOURCE_TAG: "raster layers " + ", ".join(path.name for path in paths),
                STANDIN_LAYERS_TAG: json.dumps([path.name for path in paths]),
            })
        if valid_pixels == 0:
            raise NoDataError(f"The stand-in over {reference['path']} has no valid pixel.")
    logger.info("Wrote %s: %d valid pixels", output_path, valid_pixels)
    return grid
