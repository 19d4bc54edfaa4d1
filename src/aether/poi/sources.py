"""Readers that turn POI sources into one raw table, all through DuckDB.

Every reader fills the same columns: ``source`` (the configured source
name), ``source_id`` (unique within the source), ``key`` and ``value`` (the tag
the category table maps), ``name`` (may be NULL), ``lon`` and ``lat``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import pandas as pd

from aether import osm
from aether.exceptions import InvalidPOIError

logger = logging.getLogger(__name__)

OSM_POI_KEYS = ("amenity", "shop", "tourism", "leisure", "office", "healthcare", "craft")
RAW_COLUMNS = ("source", "source_id", "key", "value", "name", "lon", "lat")
_KEY_PATTERN = re.compile(r"^[A-Za-z_:]+$")


def read_osm_pois(
    connection: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    source: str,
    keys: tuple[str, ...] = OSM_POI_KEYS,
) -> pd.DataFrame:
    """Read POIs from an OSM PBF extract: tagged nodes, way centroids and multipolygon centroids.

    An element with several POI keys is classified by the first key in
    ``keys``; a value with several entries (``cafe;bar``) by its first entry.
    """
    for key in keys:
        if not _KEY_PATTERN.match(key):
            raise InvalidPOIError(f"Invalid OSM key {key!r} in pois.sources[{source}].keys.")
    osm.load_osm(connection, path)

    has_key = " OR ".join(f"tags['{key}'] IS NOT NULL" for key in keys)
    first_key = "CASE " + " ".join(f"WHEN tags['{key}'] IS NOT NULL THEN '{key}'" for key in keys) + " END"
    sql = f"""
        WITH elements AS (
            SELECT 'node' AS element, id, tags, lon, lat
            FROM osm_nodes WHERE {has_key}
            UNION ALL
            SELECT 'way', id, tags, ST_X(centre), ST_Y(centre) FROM (
                SELECT id, tags,
                       ST_Centroid(CASE WHEN ST_IsClosed(geom) AND ST_NPoints(geom) >= 4
                                        THEN ST_MakePolygon(geom) ELSE geom END) AS centre
                FROM osm_ways WHERE {has_key}
            )
            UNION ALL
            SELECT 'relation', id, tags, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom))
            FROM osm_areas WHERE element = 'relation' AND ({has_key})
        ),
        keyed AS (SELECT *, {first_key} AS key FROM elements)
        SELECT ? AS source,
               element || '/' || id AS source_id,
               key,
               trim(split_part(tags[key], ';', 1)) AS value,
               tags['name'] AS name,
               lon, lat
        FROM keyed
        ORDER BY element, id
    """
    frame = connection.execute(sql, [source]).df()
    if frame.empty:
        raise InvalidPOIError(
            f"{path}: no element carries any of the keys {list(keys)}, so the source {source!r} has no POIs. "
            "Check that the extract covers a built-up area, or change pois.sources[].keys."
        )
    logger.info("Source %s: %d POIs from %s", source, len(frame), Path(path).name)
    return frame


READERS = {"osm_pbf": read_osm_pois}
