"""POI description synthesis in DuckDB.

Each POI gets a sentence built from its class, category and name with the
template of the AETHER paper (Wang et al., arXiv:2510.09894), for example
"A place of cafe, a type of food and drink, named Example Cafe.", and a
shorter template when it has no name. The output is a GeoParquet table of
the POIs that fall on valid pixels of the AlphaEarth raster.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from aether import duck
from aether.exceptions import ConfigError, InvalidPOIError, NoDataError
from aether.io import atomic_output
from aether.paths import resolve_path
from aether.poi.categories import read_category_table
from aether.poi.sources import SourceSpec, read_source
from aether.raster.grid import Grid

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "A place of {class}, a type of {category}, named {name}."
DEFAULT_UNNAMED_TEMPLATE = "A place of {class}, a type of {category}."
PLACEHOLDERS = {"class", "category", "name"}


@dataclass(frozen=True)
class TextSpec:
    """The description templates; placeholders are ``{class}``, ``{category}`` and ``{name}``."""

    template: str = DEFAULT_TEMPLATE
    unnamed_template: str = DEFAULT_UNNAMED_TEMPLATE


def check_template(template: str, *, allowed: set[str] = PLACEHOLDERS) -> None:
    """Reject templates with unknown or malformed placeholders."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ConfigError(f"Invalid description template {template!r}: {error}.") from error
    unknown = fields - allowed
    if unknown:
        raise ConfigError(
            f"Description template {template!r} uses unknown placeholder(s) {sorted(unknown)}; "
            f"use only {sorted(allowed)}."
        )


def _template_sql(template: str) -> str:
    """Translate a ``{placeholder}`` template into a DuckDB string expression."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append("'" + literal.replace("'", "''") + "'")
        if name:
            parts.append(f'"{name}"')
    return " || ".join(parts) if parts else "''"


def _clean_sql(column: str) -> str:
    """SQL that replaces control characters and runs of whitespace by one space and trims."""
    return f"nullif(trim(regexp_replace(regexp_replace({column}, '[[:cntrl:]]', ' ', 'g'), '\\s+', ' ', 'g')), '')"


def read_sources(sources: Sequence[SourceSpec], connection) -> pd.DataFrame:
    """Read every source into one raw table with ``class_raw``, ``category_raw`` and ``include`` resolved."""
    frames = []
    for spec in sources:
        spec = replace(spec.validated(), path=str(resolve_path(spec.path)))
        raw = read_source(connection, spec)
        if spec.keys:
            table = read_category_table(resolve_path(spec.categories))
            frames.append(_apply_categories(connection, raw, table, spec.name))
        else:
            missing = raw["class_raw"].isna() | raw["category_raw"].isna()
            if missing.any():
                logger.warning("Source %s: dropping %d POIs with an empty class or category column",
                               spec.name, int(missing.sum()))
            frames.append(raw[~missing].assign(include=True, unmapped=False))
    return pd.concat(frames, ignore_index=True)


def _apply_categories(connection, raw: pd.DataFrame, table: pd.DataFrame, source: str) -> pd.DataFrame:
    connection.register("raw_pois", raw)
    connection.register("category_table", table)
    mapped = connection.execute(
        """
        SELECT raw.* EXCLUDE (class_raw, category_raw),
               coalesce(exact.class, nullif(fallback.class, ''), replace(raw.value, '_', ' ')) AS class_raw,
               coalesce(exact.category, fallback.category) AS category_raw,
               coalesce(exact.include, fallback.include, false) AS include,
               exact.key IS NULL AS unmapped
        FROM raw_pois AS raw
        LEFT JOIN category_table AS exact ON exact.key = raw.key AND exact.value = raw.value
        LEFT JOIN category_table AS fallback ON fallback.key = raw.key AND fallback.value = '*'
        """
    ).df()
    connection.unregister("raw_pois")
    connection.unregister("category_table")

    no_value = mapped["value"].isna()
    if no_value.any():
        logger.warning("Source %s: dropping %d POIs with no value in any of the key columns", source,
                       int(no_value.sum()))
    mapped = mapped[~no_value]
    unmapped = mapped[mapped["unmapped"]]
    if len(unmapped):
        top = unmapped.groupby(["key", "value"]).size().sort_values(ascending=False).head(15)
        logger.info(
            "Source %s: %d POIs have tags without a row in the category table and use their key's default: %s",
            source,
            len(unmapped),
            ", ".join(f"{k}={v} ({n})" for (k, v), n in top.items()),
        )
    no_default = mapped["category_raw"].isna()
    if no_default.any():
        logger.warning(
            "Source %s: dropping %d POIs whose key has no default row (value '*') in the category table: %s",
            source,
            int(no_default.sum()),
            ", ".join(sorted(mapped.loc[no_default, "key"].unique())[:10]),
        )
    return mapped[~no_default]


def synthesise_texts(connection, pois: pd.DataFrame, text: TextSpec) -> pd.DataFrame:
    """Clean names and categories and build the description of every POI in SQL."""
    check_template(text.template)
    check_template(text.unnamed_template, allowed=PLACEHOLDERS - {"name"})
    connection.register("mapped_pois", pois)
    frame = connection.execute(
        f"""
        WITH cleaned AS (
            SELECT source, source_id, key, value, lon, lat,
                   {_clean_sql('name')} AS name,
                   {_clean_sql('class_raw')} AS class,
                   {_clean_sql('category_raw')} AS category
            FROM mapped_pois
        )
        SELECT source || ':' || source_id AS poi_id, source, source_id, key, value,
               name, class, category,
               CASE WHEN name IS NULL THEN {_template_sql(text.unnamed_template)}
                    ELSE {_template_sql(text.template)} END AS text,
               lon, lat
        FROM cleaned
        ORDER BY poi_id
        """
    ).df()
    connection.unregister("mapped_pois")
    return frame


def duplicate_mask(pois: pd.DataFrame, distance: float) -> np.ndarray:
    """Flag POIs that repeat an earlier POI: same name and class within ``distance`` metres.

    ``pois`` needs ``name``, ``class``, ``x`` and ``y`` in a metric CRS. The
    first POI of each cluster (in table order) is kept. Unnamed POIs are
    never merged, because two unnamed cafes next to each other may well be
    two cafes.
    """
    flags = np.zeros(len(pois), dtype=bool)
    named = np.flatnonzero(pois["name"].notna().to_numpy())
    if distance <= 0 or len(named) < 2:
        return flags
    points = pois[["x", "y"]].to_numpy()[named]
    pairs = cKDTree(points).query_pairs(distance, output_type="ndarray")
    if len(pairs) == 0:
        return flags
    names = pois["name"].to_numpy()[named]
    classes = pois["class"].to_numpy()[named]
    same = (names[pairs[:, 0]] == names[pairs[:, 1]]) & (classes[pairs[:, 0]] == classes[pairs[:, 1]])
    pairs = pairs[same]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(named), len(named)))
    _, component = connected_components(graph, directed=False)
    first = pd.Series(np.arange(len(named))).groupby(component).transform("min").to_numpy()
    flags[named[first != np.arange(len(named))]] = True
    return flags


def synthesise_pois(
    sources: Sequence[SourceSpec],
    output: str | Path,
    *,
    grid: Grid,
    is_valid: Callable[[np.ndarray, np.ndarray], np.ndarray],
    text: TextSpec = TextSpec(),
    deduplicate_distance: float = 10.0,
) -> gpd.GeoDataFrame:
    """Read, map, describe and locate POIs; write those on valid raster pixels as GeoParquet.

    Args:
        sources: the configured POI sources.
        output: GeoParquet path.
        grid: the AlphaEarth grid; its CRS is the output CRS.
        is_valid: returns, for arrays of rows and columns inside the grid,
            whether the raster has data there.
        text: description templates.
        deduplicate_distance: POIs with the same name and class within this
            many metres are merged into the first; 0 keeps all.

    Raises:
        InvalidPOIError: a source yields no POIs.
        NoDataError: no POI falls on a valid pixel of the raster.
    """
    if not sources:
        raise ConfigError("pois.sources is empty; configure at least one POI source.")
    names = [spec.name for spec in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"POI source names must be unique, got {names}.")

    connection = duck.connect()
    raw = read_sources(sources, connection)
    counts = {"read": len(raw)}
    included = raw[raw["include"]]
    counts["excluded by category table"] = len(raw) - len(included)
    pois = synthesise_texts(connection, included, text)
    if pois["poi_id"].duplicated().any():
        raise InvalidPOIError("POI ids are not unique; give every source a distinct name.")

    transformer = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    x, y = transformer.transform(pois["lon"].to_numpy(), pois["lat"].to_numpy())
    rows, cols = grid.rowcol(x, y)
    inside = grid.contains(rows, cols)
    valid = np.zeros(len(pois), dtype=bool)
    valid[inside] = is_valid(rows[inside], cols[inside])
    counts["outside the raster"] = int((~inside).sum())
    counts["on nodata pixels"] = int((inside & ~valid).sum())

    pois = pois.assign(x=x, y=y)[valid].reset_index(drop=True)
    duplicates = duplicate_mask(pois, deduplicate_distance)
    counts[f"duplicates within {deduplicate_distance:g} m"] = int(duplicates.sum())
    pois = pois[~duplicates].reset_index(drop=True)
    counts["written"] = len(pois)
    logger.info("POIs: %s", ", ".join(f"{reason}: {count}" for reason, count in counts.items()))
    if pois.empty:
        raise NoDataError(
            f"None of the {counts['read']} POIs of {names} lies on a valid pixel of the AlphaEarth raster "
            f"(grid bounds {tuple(round(b) for b in grid.bounds)} in {grid.crs}). "
            "Check that the POI sources and the raster cover the same area."
        )

    frame = gpd.GeoDataFrame(pois, geometry=gpd.points_from_xy(pois["x"], pois["y"]), crs=grid.crs)
    with atomic_output(output) as temporary:
        frame.to_parquet(temporary, index=False)
    return frame

