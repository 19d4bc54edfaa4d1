"""Seeded generators of tiny inputs: AlphaEarth-format GeoTIFFs and OSM PBF extracts.

Every test builds its own fixtures in a temporary folder from these
functions, so no binary fixture is committed and every case is reproducible
from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer

from aether.raster.codec import BAND_NAMES, NODATA_CODE, quantise
from aether.raster.grid import Grid

# A small area in central Helsinki (UTM zone 35N), used by the synthetic town.
TOWN_CRS = "EPSG:32635"
TOWN_ORIGIN = (385_400.0, 6_672_000.0)


def smooth_unit_field(height: int, width: int, *, seed: int, bands: int = 64, scale: float = 6.0) -> np.ndarray:
    """Return ``(bands, height, width)`` unit vectors that vary smoothly in space."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    frequencies = rng.normal(0, 1 / scale, size=(bands, 2))
    phases = rng.uniform(0, 2 * np.pi, size=bands)
    field = np.sin(frequencies[:, 0, None, None] * rows + frequencies[:, 1, None, None] * cols + phases[:, None, None])
    field += 0.05 * rng.standard_normal(field.shape)
    return (field / np.linalg.norm(field, axis=0, keepdims=True)).astype(np.float64)


def write_alphaearth_tif(
    path: str | Path,
    *,
    height: int = 40,
    width: int = 30,
    seed: int = 0,
    crs: str = TOWN_CRS,
    left: float = TOWN_ORIGIN[0],
    top: float = TOWN_ORIGIN[1],
    resolution: float = 10.0,
    dtype: str = "int8",
    bands: int = 64,
    nodata_mask: np.ndarray | None = None,
    bottom_up: bool = False,
    values: np.ndarray | None = None,
    write_crs: bool = True,
    tags: dict | None = None,
    tiled: bool = False,
) -> np.ndarray:
    """Write an AlphaEarth-format GeoTIFF and return the decoded values it holds (NaN = nodata).

    ``dtype="int8"`` writes public-tile codes; a float dtype writes values
    with NaN as nodata, like an Earth Engine export. ``values`` replaces the
    smooth unit field (for invalid inputs); ``bottom_up`` stores the rows
    south to north with a positive y resolution, as some mirrors do.
    """
    if values is None:
        values = smooth_unit_field(height, width, seed=seed, bands=bands)
    values = np.array(values, dtype=np.float64)
    if nodata_mask is not None:
        values[:, nodata_mask] = np.nan

    if dtype == "int8":
        payload = quantise(values)
        decoded = np.where(payload == NODATA_CODE, np.nan, np.sign(payload) * (payload / 127.5) ** 2)
        nodata = NODATA_CODE
    else:
        payload = values.astype(dtype)
        decoded = payload.astype(np.float64)
        nodata = np.nan

    grid = Grid(crs, left, top, resolution, values.shape[2], values.shape[1])
    transform = grid.transform
    if bottom_up:
        payload = payload[:, ::-1, :]
        bottom = top - resolution * values.shape[1]
        transform = rasterio.Affine(resolution, 0, left, 0, resolution, bottom)
    profile = {
        "driver": "GTiff",
        "dtype": dtype,
        "count": payload.shape[0],
        "height": payload.shape[1],
        "width": payload.shape[2],
        "transform": transform,
        "nodata": nodata,
    }
    if tiled:
        # Internal 16 x 16 blocks, like the blocks of a Cloud-Optimised GeoTIFF, so windows read in part.
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    if write_crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(payload)
        for index in range(payload.shape[0]):
            dataset.set_band_description(index + 1, BAND_NAMES[index % 64])
        if tags:
            dataset.update_tags(**tags)
    return decoded


@dataclass
class OSMBuilder:
    """Collects nodes, ways and relations in metres around the town origin and writes them as PBF."""

    crs: str = TOWN_CRS
    origin: tuple[float, float] = TOWN_ORIGIN
    nodes: list = field(default_factory=list)
    ways: list = field(default_factory=list)
    relations: list = field(default_factory=list)
    next_id: int = 1

    def __post_init__(self):
        self._to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)

    def node(self, dx: float, dy: float, tags: dict | None = None) -> int:
        """Add a node ``dx`` metres east and ``dy`` metres north of the origin; return its id."""
        lon, lat = self._to_lonlat.transform(self.origin[0] + dx, self.origin[1] + dy)
        node_id = self.next_id
        self.next_id += 1
        self.nodes.append((node_id, lon, lat, tags or {}))
        return node_id

    def way(self, points: list[tuple[float, float]], tags: dict | None = None, *, closed: bool = False) -> int:
        ids = [self.node(dx, dy) for dx, dy in points]
        if closed:
            ids.append(ids[0])
        way_id = self.next_id
        self.next_id += 1
        self.ways.append((way_id, ids, tags or {}))
        return way_id

    def rectangle(self, x0: float, y0: float, x1: float, y1: float, tags: dict) -> int:
        """Add a closed way around the rectangle ``(x0, y0)``-``(x1, y1)`` in metres."""
        return self.way([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], tags, closed=True)

    def multipolygon(self, outer_way: int, tags: dict) -> int:
        relation_id = self.next_id
        self.next_id += 1
        self.relations.append((relation_id, [("w", outer_way, "outer")], {"type": "multipolygon", **tags}))
        return relation_id

    def write(self, path: str | Path) -> Path:
        import osmium
        import osmium.osm.mutable as mutable

        path = Path(path)
        writer = osmium.SimpleWriter(str(path))
        try:
            for node_id, lon, lat, tags in self.nodes:
                writer.add_node(mutable.Node(id=node_id, location=(lon, lat), tags=tags))
            for way_id, refs, tags in self.ways:
                writer.add_way(mutable.Way(id=way_id, nodes=refs, tags=tags))
            for relation_id, members, tags in self.relations:
                writer.add_relation(mutable.Relation(id=relation_id, members=members, tags=tags))
        finally:
            writer.close()
        return path


def toy_town(path: str | Path, *, seed: int = 0, blocks: int = 4) -> Path:
    """Write a small synthetic town: a street grid, buildings, a park, water, POIs and land-use polygons.

    The town spans ``blocks x blocks`` blocks of 100 m. The blocks alternate
    between residential and commercial, every commercial block contains shops
    and cafes, and a park with trees lies east of the grid.
    """
    rng = np.random.default_rng(seed)
    town = OSMBuilder()
    size = 100.0 * blocks
    for i in range(blocks + 1):
        offset = 100.0 * i
        town.way([(offset, 0), (offset, size)], {"highway": "residential" if i % 2 else "primary", "name": f"Street {i}"})
        town.way([(0, offset), (size, offset)], {"highway": "residential" if i % 2 else "secondary"})
    names = iter(f"Place {n}" for n in range(10_000))
    for bx in range(blocks):
        for by in range(blocks):
            x0, y0 = 100.0 * bx, 100.0 * by
            commercial = (bx + by) % 2 == 0
            town.rectangle(x0 + 5, y0 + 5, x0 + 95, y0 + 95, {"landuse": "commercial" if commercial else "residential"})
            levels = str(int(rng.integers(2, 8)))
            town.rectangle(x0 + 15, y0 + 15, x0 + 45, y0 + 45, {"building": "yes", "building:levels": levels})
            town.rectangle(x0 + 55, y0 + 55, x0 + 85, y0 + 85, {"building": "apartments"})
            for _ in range(4 if commercial else 1):
                dx, dy = rng.uniform(10, 90, size=2)
                kind = rng.choice(["cafe", "restaurant"]) if commercial else "school"
                town.node(x0 + dx, y0 + dy, {"amenity": str(kind), "name": next(names)})
            if commercial:
                dx, dy = rng.uniform(10, 90, size=2)
                town.node(x0 + dx, y0 + dy, {"shop": "books", "name": next(names)})
                town.node(x0 + dx + 3, y0 + dy, {"amenity": "bench"})
    park = town.rectangle(size + 10, 0, size + 120, 110, {"leisure": "park"})
    town.multipolygon(park, {"landuse": "grass"})
    for _ in range(12):
        dx, dy = rng.uniform(20, 100, size=2)
        town.node(size + 10 + dx, dy, {"natural": "tree"})
    town.rectangle(size + 10, 150, size + 120, 250, {"natural": "water"})
    town.rectangle(size + 30, 300, size + 60, 330, {"tourism": "museum", "name": "Town Museum", "building": "yes"})
    return town.write(path)
