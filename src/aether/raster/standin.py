"""An AlphaEarth-format stand-in raster built from the physical layers of an OSM extract.

No real AlphaEarth raster can be obtained offline, so the embedded default
builds one with the same encoding as the public tiles (64 int8 bands at
10 m in the local UTM zone, -128 nodata, unit vectors after
de-quantisation). Its content comes only from physical OSM layers:
buildings (with levels where tagged), roads by class, railways, water,
trees, other vegetation and bare ground. Land-use polygons are never read,
because the evaluation uses them as labels.

Each layer is rasterised as a coverage fraction (by supersampling), smoothed
at several neighbourhood scales and complemented by distance features. A
fixed random two-layer projection with a seeded generator maps the
standardised features to 64 dimensions, which are L2-normalised and
quantised. Nearby pixels with similar surroundings therefore get similar
vectors, as in real AlphaEarth, but the stand-in carries no spectral or
temporal information and must be labelled as a stand-in wherever results
are shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
from affine import Affine
from scipy import ndimage

from aether import duck, osm
from aether.exceptions import NoDataError
from aether.io import atomic_output
from aether.raster.codec import BAND_NAMES, EMBEDDING_DIM, NODATA_CODE, quantise
from aether.raster.grid import Grid, utm_crs

logger = logging.getLogger(__name__)

STANDIN_TAG = "AETHER_STANDIN"
STANDIN_SOURCE_TAG = "AETHER_STANDIN_SOURCE"

_NOT_IN_TUNNEL = "coalesce(tags['tunnel'], 'no') NOT IN ('yes', 'building_passage', 'culvert')"

# name -> (OSM table, SQL condition, buffer in metres for points and lines)
PHYSICAL_LAYERS: dict[str, tuple[str, str, float]] = {
    "building": ("osm_areas", "tags['building'] IS NOT NULL AND tags['building'] <> 'no'", 0.0),
    "road_major": (
        "osm_ways",
        f"tags['highway'] IN ('motorway', 'trunk', 'primary', 'motorway_link', 'trunk_link', 'primary_link') "
        f"AND {_NOT_IN_TUNNEL}",
        8.0,
    ),
    "road_medium": (
        "osm_ways",
        f"tags['highway'] IN ('secondary', 'tertiary', 'secondary_link', 'tertiary_link') AND {_NOT_IN_TUNNEL}",
        6.0,
    ),
    "road_minor": (
        "osm_ways",
        f"tags['highway'] IN ('residential', 'unclassified', 'service', 'living_street', 'road') "
        f"AND {_NOT_IN_TUNNEL}",
        3.5,
    ),
    "path": (
        "osm_ways",
        f"tags['highway'] IN ('footway', 'pedestrian', 'cycleway', 'path', 'steps', 'track', 'trail', "
        f"'bridleway', 'platform') AND {_NOT_IN_TUNNEL}",
        1.5,
    ),
    "rail": (
        "osm_ways",
        f"tags['railway'] IN ('rail', 'tram', 'light_rail', 'subway', 'narrow_gauge') AND {_NOT_IN_TUNNEL}",
        2.5,
    ),
    "water_area": (
        "osm_areas",
        "tags['natural'] = 'water' OR tags['water'] IS NOT NULL OR tags['waterway'] = 'riverbank'",
        0.0,
    ),
    "waterway": (
        "osm_ways",
        f"tags['waterway'] IN ('river', 'stream', 'canal', 'drain', 'ditch') AND {_NOT_IN_TUNNEL}",
        2.0,
    ),
    "tree_area": ("osm_areas", "tags['natural'] = 'wood' OR tags['landcover'] = 'trees'", 0.0),
    "tree_row": ("osm_ways", "tags['natural'] = 'tree_row'", 3.0),
    "tree": ("osm_nodes", "tags['natural'] = 'tree'", 3.0),
    "vegetation": (
        "osm_areas",
        "tags['natural'] IN ('scrub', 'heath', 'grassland', 'wetland', 'fell') "
        "OR tags['landcover'] IN ('grass', 'scrub', 'flowerbed', 'vegetation')",
        0.0,
    ),
    "bare_ground": (
        "osm_areas",
        "tags['natural'] IN ('bare_rock', 'scree', 'shingle', 'sand', 'beach', 'rock')",
        0.0,
    ),
    "cliff": ("osm_ways", "tags['natural'] = 'cliff'", 2.0),
    "coastline": ("osm_ways", "tags['natural'] = 'coastline'", 1.0),
}

# Coverage channels: several OSM layers can feed one physical channel.
CHANNELS: dict[str, tuple[str, ...]] = {
    "building": ("building",),
    "road_major": ("road_major",),
    "road_medium": ("road_medium",),
    "road_minor": ("road_minor",),
    "path": ("path",),
    "rail": ("rail",),
    "water": ("water_area", "waterway"),
    "trees": ("tree_area", "tree_row", "tree"),
    "vegetation": ("vegetation",),
    "bare_ground": ("bare_ground", "cliff"),
}

# Channels whose distance to the nearest feature is a feature of its own.
DISTANCE_CHANNELS = ("building", "road_major", "road_medium", "water", "rail", "coastline")


@dataclass(frozen=True)
class StandinSettings:
    """Parameters of the stand-in builder.

    Attributes:
        resolution: pixel size in metres (AlphaEarth: 10).
        seed: seed of the random projection to 64 dimensions.
        supersample: sub-pixels per pixel side used to compute coverage fractions.
        scales: standard deviations, in pixels, of the Gaussian neighbourhoods;
            0 keeps the pixel's own coverage.
        hidden: width of the hidden layer of the random projection.
        crs: working CRS; ``None`` picks the UTM zone of the extract's centre.
    """

    resolution: float = 10.0
    seed: int = 0
    supersample: int = 5
    scales: tuple[float, ...] = (0.0, 1.5, 4.0, 10.0, 25.0)
    hidden: int = 256
    crs: str | None = None
    layers: dict[str, tuple[str, str, float]] = field(default_factory=lambda: dict(PHYSICAL_LAYERS))


def read_physical_layers(pbf_path: str | Path, settings: StandinSettings) -> tuple[Grid, gpd.GeoSeries, dict]:
    """Read the physical OSM layers of an extract and define the stand-in grid.

    Returns:
        The grid covering the extract, the extract outline in the grid CRS and,
        per layer name, a GeoDataFrame with a ``geometry`` (buffered for
        points and lines) and, for buildings, a ``levels`` column.
    """
    connection = duck.connect()
    osm.load_osm(connection, pbf_path)
    outline_lonlat = osm.extract_outline(connection)
    centre = outline_lonlat.centroid
    crs = settings.crs or utm_crs(centre.x, centre.y)
    outline = gpd.GeoSeries([outline_lonlat], crs="EPSG:4326").to_crs(crs)
    grid = Grid.from_bounds(crs, tuple(outline.total_bounds), settings.resolution)

    layers = {}
    for name, (table, condition, buffer) in settings.layers.items():
        levels = ", TRY_CAST(regexp_extract(tags['building:levels'], '^[0-9]+([.][0-9]+)?') AS DOUBLE) AS levels"
        sql = f"SELECT geom{levels if name == 'building' else ''} FROM {table} WHERE {condition}"
        frame = osm.query_geodataframe(connection, sql, crs)
        if buffer > 0 and len(frame):
            frame = frame.set_geometry(frame.buffer(buffer, quad_segs=4))
        layers[name] = frame
    logger.info(
        "Physical layers on a %dx%d grid in %s: %s",
        grid.width,
        grid.height,
        crs,
        ", ".join(f"{name}={len(frame)}" for name, frame in layers.items()),
    )
    return grid, outline, layers


def coverage(geometries, grid: Grid, supersample: int, values=None) -> np.ndarray:
    """Rasterise geometries into the mean of ``values`` (default 1) over each pixel's sub-pixels."""
    fine_shape = (grid.height * supersample, grid.width * supersample)
    if len(geometries) == 0:
        return np.zeros(grid.shape, dtype=np.float32)
    fine_transform = grid.transform @ Affine.scale(1 / supersample)
    shapes = zip(geometries, values if values is not None else np.ones(len(geometries)))
    fine = rasterio.features.rasterize(
        shapes, out_shape=fine_shape, transform=fine_transform, fill=0.0, dtype="float32"
    )
    return fine.reshape(grid.height, supersample, grid.width, supersample).mean(axis=(1, 3))


def feature_stack(grid: Grid, layers: dict[str, gpd.GeoDataFrame], settings: StandinSettings) -> np.ndarray:
    """Compute the multi-scale neighbourhood features, shape ``(features, height, width)``."""
    channels = {}
    for channel, sources in CHANNELS.items():
        geometries = [geom for source in sources for geom in layers[source].geometry]
        channels[channel] = coverage(geometries, grid, settings.supersample)

    buildings = layers["building"]
    tagged = buildings[buildings["levels"].notna()]
    # Mean storey count over the pixel, counting only buildings whose levels are tagged.
    channels["building_levels"] = coverage(
        list(tagged.geometry), grid, settings.supersample, values=np.clip(tagged["levels"].to_numpy(), 0, 60) / 10.0
    )

    features = []
    for coverage_map in channels.values():
        for sigma in settings.scales:
            features.append(coverage_map if sigma == 0 else ndimage.gaussian_filter(coverage_map, sigma, mode="nearest"))

    coastline = coverage(list(layers["coastline"].geometry), grid, settings.supersample)
    for channel in DISTANCE_CHANNELS:
        present = (coastline if channel == "coastline" else channels[channel]) > 0
        if present.any():
            distance = ndimage.distance_transform_edt(~present) * grid.resolution
        else:
            distance = np.full(grid.shape, 5000.0)
        features.append(np.log1p(distance).astype(np.float32))
    return np.stack(features).astype(np.float32)


def random_projection(features: np.ndarray, *, seed: int, hidden: int = 256) -> np.ndarray:
    """Map standardised ``(n, features)`` rows to 64-d unit vectors with a fixed seeded two-layer network.

    The same seed and feature count always give the same network, so
    stand-ins built block by block (or rebuilt later) stay consistent.
    """
    count = features.shape[1]
    generator = np.random.default_rng(seed)
    first = generator.standard_normal((count, hidden)) / np.sqrt(count)
    second = generator.standard_normal((hidden, EMBEDDING_DIM)) / np.sqrt(hidden)
    vectors = np.tanh(features @ first) @ second
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def project_features(features: np.ndarray, valid: np.ndarray, settings: StandinSettings) -> np.ndarray:
    """Map features to 64-d unit vectors with a fixed seeded random projection; NaN outside ``valid``."""
    count, height, width = features.shape
    matrix = features.reshape(count, -1).T
    inside = valid.reshape(-1)
    mean = matrix[inside].mean(axis=0)
    std = matrix[inside].std(axis=0)
    standardised = (matrix - mean) / np.where(std > 1e-6, std, 1.0)
    vectors = random_projection(standardised, seed=settings.seed, hidden=settings.hidden)
    vectors[~inside] = np.nan
    return vectors.T.reshape(EMBEDDING_DIM, height, width)


def build_standin(pbf_path: str | Path, output_path: str | Path, settings: StandinSettings = StandinSettings()) -> Grid:
    """Build the stand-in raster of an OSM extract and write it as an int8 AlphaEarth-format GeoTIFF.

    NOTE: the whole grid is held in memory with ``supersample**2`` sub-pixels
    per pixel, which suits extracts of a few square kilometres (the embedded
    Helsinki extract is about 1 x 1.7 km) but not whole cities.

    Raises:
        NoDataError: the extract outline covers no pixel centre.
    """
    grid, outline, layers = read_physical_layers(pbf_path, settings)
    valid = rasterio.features.geometry_mask(outline, out_shape=grid.shape, transform=grid.transform, invert=True)
    if not valid.any():
        raise NoDataError(f"{pbf_path}: the extract covers no pixel at {settings.resolution} m resolution.")

    features = feature_stack(grid, layers, settings)
    logger.info("Stand-in features: %d per pixel over %d valid pixels", features.shape[0], int(valid.sum()))
    codes = quantise(project_features(features, valid, settings))
    write_aef_geotiff(
        output_path,
        codes,
        grid,
        tags={STANDIN_TAG: "true", STANDIN_SOURCE_TAG: f"physical OSM layers of {Path(pbf_path).name}"},
    )
    return grid


def write_aef_geotiff(path: str | Path, codes: np.ndarray, grid: Grid, *, tags: dict[str, str] | None = None) -> None:
    """Write int8 codes ``(64, height, width)`` as a tiled GeoTIFF encoded like the public AlphaEarth tiles."""
    profile = {
        "driver": "GTiff",
        "dtype": "int8",
        "count": codes.shape[0],
        "height": grid.height,
        "width": grid.width,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA_CODE,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "interleave": "pixel",
    }
    with atomic_output(path) as temporary:
        with rasterio.open(temporary, "w", **profile) as dataset:
            dataset.write(codes)
            for index, name in enumerate(BAND_NAMES[: codes.shape[0]], start=1):
                dataset.set_band_description(index, name)
            if tags:
                dataset.update_tags(**tags)
