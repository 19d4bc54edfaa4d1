"""Readers that turn POI sources into one raw table, all through DuckDB.

Every reader returns the columns of :data:`RAW_COLUMNS`:

- ``source`` (the configured source name) and ``source_id`` (unique within
  the source);
- ``key`` and ``value``: the tag or column value that the category table
  maps to (class, category), NULL when the source sets them directly;
- ``class_raw`` and ``category_raw``: a class and category set directly by
  the source configuration (a column or a constant), NULL otherwise;
- ``name`` (may be NULL) and ``lon``/``lat`` in WGS 84. Lines and polygons
  are represented by their centroid.

Supported formats: OSM PBF extracts, anything GDAL reads as vectors
(GeoJSON, GeoPackage, Shapefile, FlatGeobuf), GeoParquet, Overture Maps
places GeoParquet, and CSV with coordinate columns in a declared CRS.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pandas as pd
from pyproj import CRS
from pyproj.exceptions import CRSError

from aether import osm
from aether.exceptions import ConfigError, InvalidPOIError

logger = logging.getLogger(__name__)

OSM_POI_KEYS = ("amenity", "shop", "tourism", "leisure", "office", "healthcare", "craft")
RAW_COLUMNS = ("source", "source_id", "key", "value", "class_raw", "category_raw", "name", "lon", "lat")
DEFAULT_OSM_TABLE = "pkg:aether/data/osm_poi_categories.csv"
DEFAULT_OVERTURE_TABLE = "pkg:aether/data/overture_categories.csv"
FORMATS = ("osm_pbf", "vector", "geojson", "gpkg", "geoparquet", "overture", "csv")
_KEY_PATTERN = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")
_COLUMN_PATTERN = re.compile(r"^[^\"\x00]+$")


@dataclass(frozen=True)
class SourceSpec:
    """One configured POI source.

    Each POI needs a class and a category. They come either from a category
    table, looked up with the first non-empty of ``keys`` (OSM tag keys, or
    column names of a table source), or directly from columns
    (``class_column``, ``category_column``). Constants work too:
    ``fixed_class`` and ``fixed_category``, which the configuration calls
    ``class`` and ``category``.
    """

    name: str
    path: str
    format: str = "osm_pbf"
    categories: str | None = None
    keys: tuple[str, ...] | None = None
    name_column: str | None = None
    id_column: str | None = None
    class_column: str | None = None
    category_column: str | None = None
    fixed_class: str | None = None
    fixed_category: str | None = None
    layer: str | None = None
    x_column: str | None = None
    y_column: str | None = None
    crs: str | None = None
    encoding: str = "utf-8"

    @classmethod
    def from_config(cls, entry: dict) -> SourceSpec:
        """Build a spec from one entry of ``pois.sources`` in the configuration.

        Raises:
            ConfigError: the entry mixes or lacks ways of assigning categories.
        """
        entry = dict(entry)
        if "keys" in entry:
            entry["keys"] = tuple(entry["keys"])
        entry["fixed_class"] = entry.pop("class", None)
        entry["fixed_category"] = entry.pop("category", None)
        return cls(**entry).validated()

    def validated(self) -> SourceSpec:
        """Fill format defaults and check that every POI can get a class and a category."""
        where = f"pois.sources[{self.name}]"
        if self.format not in FORMATS:
            raise ConfigError(f"{where}: unknown format {self.format!r}; known: {list(FORMATS)}.")
        spec = self
        if self.format == "osm_pbf":
            spec = replace(spec, keys=self.keys or OSM_POI_KEYS, categories=self.categories or DEFAULT_OSM_TABLE)
        elif self.format == "overture":
            spec = replace(spec, keys=("category",), categories=self.categories or DEFAULT_OVERTURE_TABLE)

        direct = [self.class_column, self.fixed_class, self.category_column, self.fixed_category]
        if spec.keys and any(direct):
            raise ConfigError(
                f"{where}: set either keys (with a category table) or class/category columns or constants, not both."
            )
        if spec.keys and not spec.categories:
            raise ConfigError(f"{where}: keys need a category table; set categories to a CSV file.")
        if not spec.keys:
            if not (self.class_column or self.fixed_class) or not (self.category_column or self.fixed_category):
                raise ConfigError(
                    f"{where}: every POI needs a class and a category. Set keys plus categories (a table that "
                    "maps column values), or class_column / class and category_column / category."
                )
            if self.class_column and self.fixed_class or self.category_column and self.fixed_category:
                raise ConfigError(f"{where}: give a class (or category) as a column or as a constant, not both.")
        if self.format == "csv" and not (self.x_column and self.y_column):
            raise ConfigError(f"{where}: CSV sources need x_column and y_column (for example lon and lat).")
        for column in [*(spec.keys or ()), self.name_column, self.id_column, self.class_column,
                       self.category_column, self.x_column, self.y_column]:
            if column is not None and not _COLUMN_PATTERN.match(column):
                raise ConfigError(f"{where}: invalid column name {column!r}.")
        if self.crs is not None:
            check_crs(self.crs, where)
        return spec


def check_crs(crs: str, where: str) -> str:
    """Return ``crs`` unchanged if pyproj can parse it.

    Raises:
        ConfigError: the CRS is unknown; the message names the setting ``where``.
    """
    try:
        CRS.from_user_input(crs)
    except CRSError as error:
        raise ConfigError(f"{where}: unknown CRS {crs!r} ({error}). Use an EPSG code such as 'EPSG:27700'.") from error
    return crs


def _quote(column: str) -> str:
    return '"' + column + '"'


def read_osm_pois(connection: duckdb.DuckDBPyConnection, spec: SourceSpec) -> pd.DataFrame:
    """Read POIs from an OSM PBF extract: tagged nodes, way centroids and multipolygon centroids.

    An element with several POI keys is classified by the first key in
    ``spec.keys``; a value with several entries (``cafe;bar``) by its first entry.
    """
    keys = spec.keys or OSM_POI_KEYS
    for key in keys:
        if not _KEY_PATTERN.match(key):
            raise InvalidPOIError(f"Invalid OSM key {key!r} in pois.sources[{spec.name}].keys.")
    osm.load_osm(connection, spec.path)

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
               NULL::VARCHAR AS class_raw,
               NULL::VARCHAR AS category_raw,
               tags['name'] AS name,
               lon, lat
        FROM keyed
        ORDER BY element, id
    """
    frame = connection.execute(sql, [spec.name]).df()
    if frame.empty:
        raise InvalidPOIError(
            f"{spec.path}: no element carries any of the keys {list(keys)}, so the source {spec.name!r} has no POIs. "
            "Check that the extract covers a built-up area, or change pois.sources[].keys."
        )
    return frame


def _relation_sql(spec: SourceSpec) -> tuple[str, str]:
    """Return the SQL of the source's rows and the name of its geometry column."""
    path = str(spec.path).replace("'", "''")
    if spec.format in ("geoparquet", "overture"):
        return f"SELECT * FROM read_parquet('{path}')", "geometry"
    if spec.format == "csv":
        encoding = spec.encoding.replace("'", "''")
        return f"SELECT * FROM read_csv('{path}', header = true, encoding = '{encoding}')", ""
    layer = f", layer = '{spec.layer}'" if spec.layer else ""
    return f"SELECT * FROM ST_Read('{path}'{layer})", "geom"


def read_table_pois(connection: duckdb.DuckDBPyConnection, spec: SourceSpec) -> pd.DataFrame:
    """Read POIs from a vector file, GeoParquet, Overture places or CSV through DuckDB."""
    relation_sql, geometry_column = _relation_sql(spec)
    try:
        columns = {row[0]: row[1] for row in connection.execute(f"DESCRIBE {relation_sql}").fetchall()}
    except duckdb.Error as error:
        raise InvalidPOIError(_read_error(spec, error)) from error

    point_sql = _point_sql(spec, columns, geometry_column)
    if spec.format == "overture":
        fields = {
            "source_id": "CAST(id AS VARCHAR)",
            "key": "'category'",
            "value": "coalesce(categories.primary, categories.alternate[1])",
            "name": "names.primary",
        }
    else:
        _require_columns(spec, columns)
        keys = spec.keys or ()
        fields = {
            "source_id": f"CAST({_quote(spec.id_column)} AS VARCHAR)" if spec.id_column
            else "'row/' || CAST(row_number() OVER () AS VARCHAR)",
            "key": ("CASE " + " ".join(f"WHEN nullif(trim(CAST({_quote(k)} AS VARCHAR)), '') IS NOT NULL "
                                        f"THEN '{k}'" for k in keys) + " END") if keys else "NULL",
            "value": ("coalesce(" + ", ".join(f"nullif(trim(CAST({_quote(k)} AS VARCHAR)), '')" for k in keys) + ")")
            if keys else "NULL",
            "name": f"CAST({_quote(spec.name_column)} AS VARCHAR)" if spec.name_column else "NULL",
        }
    fields["class_raw"] = _direct_sql(spec.class_column, spec.fixed_class)
    fields["category_raw"] = _direct_sql(spec.category_column, spec.fixed_category)

    sql = f"""
        WITH rows AS (SELECT * FROM ({relation_sql})),
        located AS (
            SELECT {fields['source_id']} AS source_id, {fields['key']} AS key, {fields['value']} AS value,
                   {fields['class_raw']} AS class_raw, {fields['category_raw']} AS category_raw,
                   {fields['name']} AS name, {point_sql} AS point
            FROM rows
        )
        SELECT ? AS source, source_id, key, value, class_raw, category_raw, name,
               ST_X(point) AS lon, ST_Y(point) AS lat
        FROM located WHERE point IS NOT NULL
    """
    try:
        frame = connection.execute(sql, [spec.name]).df()
        total = connection.execute(f"SELECT count(*) FROM ({relation_sql})").fetchone()[0]
    except duckdb.Error as error:
        raise InvalidPOIError(_read_error(spec, error)) from error
    if total == 0:
        raise InvalidPOIError(f"{spec.path}: the source {spec.name!r} is empty. Check the file or remove the source.")
    if len(frame) < total:
        logger.warning("Source %s: %d of %d rows have no geometry or coordinates and are skipped",
                       spec.name, total - len(frame), total)
    if frame["source_id"].isna().any() or frame["source_id"].duplicated().any():
        raise InvalidPOIError(
            f"{spec.path}: id_column {spec.id_column!r} has empty or repeated values; "
            "choose a unique column or remove id_column to number the rows."
        )
    return frame


def _direct_sql(column: str | None, constant: str | None) -> str:
    if column:
        return f"CAST({_quote(column)} AS VARCHAR)"
    if constant:
        return "'" + constant.replace("'", "''") + "'"
    return "NULL::VARCHAR"


def _require_columns(spec: SourceSpec, columns: dict[str, str]) -> None:
    wanted = [*(spec.keys or ()), spec.name_column, spec.id_column, spec.class_column, spec.category_column,
              spec.x_column, spec.y_column]
    missing = [column for column in wanted if column is not None and column not in columns]
    if missing:
        raise InvalidPOIError(
            f"{spec.path}: column(s) {missing} not found; the file has {sorted(columns)}. "
            f"Fix the column names in pois.sources[{spec.name}]."
        )


def _point_sql(spec: SourceSpec, columns: dict[str, str], geometry_column: str) -> str:
    """SQL for a lon/lat point per row, reprojected from the source CRS."""
    where = f"pois.sources[{spec.name}]"
    if spec.format == "csv":
        point = f"ST_Point(TRY_CAST({_quote(spec.x_column)} AS DOUBLE), TRY_CAST({_quote(spec.y_column)} AS DOUBLE))"
        source_crs = check_crs(spec.crs or "EPSG:4326", where)
        return _to_lonlat(point, source_crs)

    geometry_type = columns.get(geometry_column, "")
    if not geometry_type.startswith("GEOMETRY"):
        geometries = [name for name, kind in columns.items() if kind.startswith("GEOMETRY")]
        if not geometries:
            raise InvalidPOIError(
                f"{spec.path}: no geometry column found (columns: {sorted(columns)}). Give a file with point or "
                "polygon geometries, or a CSV with format: csv and x_column/y_column."
            )
        geometry_column, geometry_type = geometries[0], columns[geometries[0]]
    declared = re.match(r"GEOMETRY\('(.+)'\)", geometry_type, flags=re.DOTALL)
    source_crs = spec.crs or (declared.group(1) if declared and _is_defined(declared.group(1)) else None)
    if spec.format in ("geoparquet", "overture") and source_crs is None:
        source_crs = "OGC:CRS84"  # the GeoParquet specification's default when no CRS is recorded
    if source_crs is None:
        raise InvalidPOIError(
            f"{spec.path}: the geometries have no CRS. Set pois.sources[{spec.name}].crs to the CRS "
            "they were written in, for example 'EPSG:4326'."
        )
    geometry = f"ST_SetCRS({_quote(geometry_column)}, '{source_crs}')" if spec.crs else _quote(geometry_column)
    return _to_lonlat(f"ST_Centroid({geometry})", source_crs)


def _is_defined(crs: str) -> bool:
    """False for the placeholder CRS that GeoPackage and GDAL write for undefined systems."""
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        return False
    return not parsed.is_engineering and "undefined" not in parsed.name.lower()


def _to_lonlat(geometry: str, crs: str) -> str:
    if CRS.from_user_input(crs).equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return geometry
    crs_sql = crs.replace("'", "''")
    return f"ST_Transform({geometry}, '{crs_sql}', 'EPSG:4326', always_xy := true)"


def _read_error(spec: SourceSpec, error: duckdb.Error) -> str:
    text = str(error)
    if "unicode" in text.lower() or "utf-8" in text.lower() or "encoding" in text.lower():
        return (
            f"{spec.path}: the file is not valid {spec.encoding} text ({text.splitlines()[0]}). Convert it to "
            f"UTF-8 (iconv -f latin1 -t utf-8) or set pois.sources[{spec.name}].encoding."
        )
    return f"{spec.path}: cannot be read as {spec.format} ({text.splitlines()[0]})."


def read_source(connection: duckdb.DuckDBPyConnection, spec: SourceSpec) -> pd.DataFrame:
    """Read one source into the raw POI columns.

    Raises:
        InvalidPOIError: the file is missing, unreadable, empty or lacks the configured columns.
    """
    if not Path(spec.path).exists():
        raise InvalidPOIError(f"POI source {spec.name!r}: file not found: {spec.path}. Check pois.sources[].path.")
    reader = read_osm_pois if spec.format == "osm_pbf" else read_table_pois
    frame = reader(connection, spec)
    logger.info("Source %s: %d POIs from %s", spec.name, len(frame), Path(spec.path).name)
    return frame[list(RAW_COLUMNS)]
