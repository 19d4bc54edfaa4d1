"""OpenStreetMap PBF extracts as DuckDB tables with assembled geometries.

``ST_ReadOSM`` returns raw elements: nodes with coordinates, ways as lists of
node ids and relations as lists of members. :func:`load_osm` joins them into
geometries in EPSG:4326 (lon/lat order):

- ``osm_nodes``: every node with its tags and point geometry;
- ``osm_ways``: every way with at least two resolvable nodes, as a linestring;
- ``osm_areas``: closed ways as polygons and ``type=multipolygon`` relations
  assembled from their member ways with ``ST_BuildArea``.

Ways or relations that reference nodes missing from the extract (clipped at
its border) keep the part that is present. A way left with fewer than two
nodes, or a relation that forms no polygon, is skipped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import geopandas as gpd
import shapely

from aether.exceptions import InvalidPOIError

logger = logging.getLogger(__name__)

_CRS_PATTERN = re.compile(r"^[A-Za-z]+:[0-9]+$")


def load_osm(connection: duckdb.DuckDBPyConnection, pbf_path: str | Path) -> None:
    """Read an OSM PBF file into the ``osm_*`` tables of ``connection``.

    Raises:
        InvalidPOIError: the file cannot be read as OSM PBF or contains no nodes.
    """
    pbf_path = Path(pbf_path)
    if not pbf_path.is_file():
        raise InvalidPOIError(f"OSM file not found: {pbf_path}. Check the path in the configuration.")
    try:
        connection.execute("CREATE OR REPLACE TEMP TABLE osm AS SELECT * FROM ST_ReadOSM(?)", [str(pbf_path)])
    except duckdb.Error as error:
        raise InvalidPOIError(
            f"{pbf_path}: cannot be read as an OSM PBF file ({error}). "
            "Give an .osm.pbf extract, for example from Geofabrik or BBBike."
        ) from error

    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE osm_nodes AS
        SELECT id, tags, lon, lat, ST_Point(lon, lat) AS geom
        FROM osm WHERE kind = 'node' AND lon IS NOT NULL
        """
    )
    node_count = connection.execute("SELECT count(*) FROM osm_nodes").fetchone()[0]
    if node_count == 0:
        raise InvalidPOIError(f"{pbf_path}: the OSM file contains no nodes with coordinates.")

    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE osm_ways AS
        WITH refs AS (
            SELECT id, unnest(refs) AS ref, generate_subscripts(refs, 1) AS position
            FROM osm WHERE kind = 'way'
        )
        SELECT refs.id, any_value(way.tags) AS tags,
               ST_MakeLine(list(nodes.geom ORDER BY refs.position)) AS geom
        FROM refs
        JOIN osm_nodes AS nodes ON nodes.id = refs.ref
        JOIN osm AS way ON way.kind = 'way' AND way.id = refs.id
        GROUP BY refs.id
        HAVING count(*) >= 2
        """
    )
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE osm_areas AS
        SELECT 'way' AS element, id, tags, ST_MakePolygon(geom) AS geom
        FROM osm_ways
        WHERE ST_IsClosed(geom) AND ST_NPoints(geom) >= 4
        UNION ALL
        SELECT 'relation' AS element, id, tags, geom FROM (
            SELECT members.id, any_value(members.tags) AS tags,
                   ST_BuildArea(ST_Collect(list(ways.geom))) AS geom
            FROM (
                SELECT id, tags, unnest(refs) AS ref, unnest(ref_types) AS ref_type
                FROM osm WHERE kind = 'relation' AND tags['type'] = 'multipolygon'
            ) AS members
            JOIN osm_ways AS ways ON ways.id = members.ref
            WHERE members.ref_type = 'way'
            GROUP BY members.id
        )
        WHERE geom IS NOT NULL AND NOT ST_IsEmpty(geom)
          AND ST_GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON')
        """
    )
    counts = connection.execute(
        "SELECT (SELECT count(*) FROM osm_ways), (SELECT count(*) FROM osm_areas)"
    ).fetchone()
    logger.info("Read %s: %d nodes, %d ways, %d areas", pbf_path.name, node_count, *counts)


def transform_sql(geometry: str, crs: str) -> str:
    """Return SQL that reprojects a lon/lat ``geometry`` expression to ``crs``."""
    if not _CRS_PATTERN.match(crs):
        raise ValueError(f"CRS must be an authority code such as 'EPSG:32635', got {crs!r}")
    return f"ST_Transform({geometry}, 'EPSG:4326', '{crs}', always_xy := true)"


def query_geodataframe(connection: duckdb.DuckDBPyConnection, sql: str, crs: str) -> gpd.GeoDataFrame:
    """Run ``sql`` (which has a lon/lat ``geom`` column) and return a GeoDataFrame in ``crs``."""
    frame = connection.execute(
        f"SELECT * EXCLUDE (geom), ST_AsWKB({transform_sql('geom', crs)}) AS wkb FROM ({sql})"
    ).df()
    geometry = shapely.from_wkb(frame.pop("wkb").map(bytes).to_numpy())
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)


def extract_outline(connection: duckdb.DuckDBPyConnection) -> shapely.Geometry:
    """Return the convex hull of all nodes in lon/lat: the area the extract covers."""
    wkb = connection.execute(
        "SELECT ST_AsWKB(ST_ConvexHull(ST_Collect(list(geom)))) FROM osm_nodes"
    ).fetchone()[0]
    return shapely.from_wkb(bytes(wkb))
