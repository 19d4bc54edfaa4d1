import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from aether import duck
from aether.exceptions import ConfigError, InvalidPOIError, NoDataError
from aether.paths import resolve_path
from aether.poi.categories import read_category_table
from aether.poi.sources import DEFAULT_OSM_TABLE, SourceSpec, read_osm_pois
from aether.poi.synthesis import TextSpec, check_template, synthesise_pois, synthesise_texts
from aether.raster.grid import Grid
from tests.generators import TOWN_CRS, TOWN_ORIGIN, OSMBuilder

TOWN_GRID = Grid(TOWN_CRS, TOWN_ORIGIN[0] - 200, TOWN_ORIGIN[1] + 600, 10.0, width=100, height=100)


def all_valid(rows, cols):
    return np.ones(len(rows), dtype=bool)


def write_table(path, rows):
    pd.DataFrame(rows, columns=["key", "value", "class", "category", "include"]).to_csv(path, index=False)
    return path


# Category tables


def test_shipped_category_table_is_consistent():
    table = read_category_table(resolve_path(DEFAULT_OSM_TABLE))
    assert table["include"].dtype == bool
    defaults = set(table.loc[table["value"] == "*", "key"])
    assert defaults == set(table["key"])
    explicit = table[table["value"] != "*"]
    assert (explicit["class"].str.len() > 0).all()
    assert (table["category"].str.len() > 0).all()


def test_category_table_rejects_duplicates(tmp_path):
    path = write_table(tmp_path / "t.csv", [["amenity", "cafe", "cafe", "food", "true"]] * 2)
    with pytest.raises(ConfigError, match=r"tags listed more than once: \['amenity=cafe'\]"):
        read_category_table(path)


def test_category_table_rejects_missing_column(tmp_path):
    pd.DataFrame({"key": ["amenity"], "value": ["cafe"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ConfigError, match=r"missing column\(s\) \['class', 'category', 'include'\]"):
        read_category_table(tmp_path / "t.csv")


def test_category_table_rejects_bad_include(tmp_path):
    path = write_table(tmp_path / "t.csv", [["amenity", "cafe", "cafe", "food", "maybe"]])
    with pytest.raises(ConfigError, match=r"include must be true or false, found \['maybe'\]"):
        read_category_table(path)


def test_category_table_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="POI category table not found"):
        read_category_table(tmp_path / "missing.csv")


# Reading OSM POIs


@pytest.fixture()
def small_town(tmp_path):
    town = OSMBuilder()
    town.node(10, 10, {"amenity": "cafe", "name": "Corner Cafe"})
    town.node(20, 10, {"amenity": "cafe;bar"})
    town.node(30, 10, {"amenity": "bench"})
    town.node(40, 10, {"shop": "Store", "name": "  Odd\tshop\x07 "})
    town.node(50, 10, {"highway": "crossing"})
    museum = town.rectangle(100, 100, 150, 150, {"tourism": "museum", "building": "yes", "name": "Museum"})
    town.multipolygon(museum, {"amenity": "university", "name": "Campus"})
    return town, town.write(tmp_path / "town.osm.pbf")


def test_read_osm_pois_takes_nodes_ways_relations(small_town):
    _, path = small_town
    pois = read_osm_pois(duck.connect(), SourceSpec("osm", str(path)).validated())
    assert sorted(pois["source_id"].str.split("/").str[0].unique()) == ["node", "relation", "way"]
    assert len(pois) == 6
    assert "crossing" not in set(pois["value"])


def test_read_osm_pois_first_value_of_list(small_town):
    _, path = small_town
    pois = read_osm_pois(duck.connect(), SourceSpec("osm", str(path)).validated()).set_index("name", drop=False)
    unnamed = pois[pois["name"].isna()]
    assert "cafe" in set(unnamed["value"])
    assert "cafe;bar" not in set(pois["value"])


def test_read_osm_pois_way_centroid(small_town):
    town, path = small_town
    pois = read_osm_pois(duck.connect(), SourceSpec("osm", str(path)).validated())
    museum = pois[pois["name"] == "Museum"].iloc[0]
    lon, lat = town._to_lonlat.transform(TOWN_ORIGIN[0] + 125, TOWN_ORIGIN[1] + 125)
    assert museum["key"] == "tourism"
    assert museum["lon"] == pytest.approx(lon, abs=1e-6)
    assert museum["lat"] == pytest.approx(lat, abs=1e-6)


def test_read_osm_pois_rejects_invalid_key(small_town):
    with pytest.raises(InvalidPOIError, match="Invalid OSM key"):
        read_osm_pois(duck.connect(), SourceSpec("osm", str(small_town[1]), keys=("amenity'] OR 1=1 --",)))


def test_read_osm_pois_without_pois(tmp_path):
    town = OSMBuilder()
    town.way([(0, 0), (10, 0)], {"highway": "residential"})
    with pytest.raises(InvalidPOIError, match="no element carries any of the keys"):
        read_osm_pois(duck.connect(), SourceSpec("osm", str(town.write(tmp_path / "t.osm.pbf"))).validated())


# Text synthesis


def test_template_in_sql_matches_python_format():
    frame = pd.DataFrame(
        {
            "source": ["s", "s"],
            "source_id": ["node/1", "node/2"],
            "key": ["amenity", "amenity"],
            "value": ["cafe", "pub"],
            "name": ["O'Brien's", None],
            "class_raw": ["cafe", "pub"],
            "category_raw": ["food and drink", "food and drink"],
            "lon": [0.0, 0.0],
            "lat": [0.0, 0.0],
        }
    )
    spec = TextSpec()
    texts = synthesise_texts(duck.connect(), frame, spec).set_index("source_id")["text"]
    named = spec.template.format(**{"class": "cafe", "category": "food and drink", "name": "O'Brien's"})
    unnamed = spec.unnamed_template.format(**{"class": "pub", "category": "food and drink"})
    assert texts["node/1"] == named
    assert texts["node/2"] == unnamed


def test_check_template_rejects_unknown_placeholder():
    with pytest.raises(ConfigError, match=r"unknown placeholder\(s\) \['kind'\]"):
        check_template("A {kind} place")


def test_check_template_rejects_malformed_template():
    with pytest.raises(ConfigError, match="Invalid description template"):
        check_template("A {class place")


def test_unnamed_template_may_not_use_name(small_town, tmp_path):
    spec = TextSpec(unnamed_template="A place named {name}.")
    with pytest.raises(ConfigError, match=r"unknown placeholder\(s\) \['name'\]"):
        synthesise_pois([SourceSpec("osm", str(small_town[1]))], tmp_path / "p.parquet",
                        grid=TOWN_GRID, is_valid=all_valid, text=spec)


def test_synthesise_pois_writes_geoparquet(small_town, tmp_path):
    output = tmp_path / "pois.parquet"
    synthesise_pois([SourceSpec("osm", str(small_town[1]))], output, grid=TOWN_GRID, is_valid=all_valid)
    pois = gpd.read_parquet(output)
    assert pois.crs.to_string() == TOWN_CRS
    assert pois["poi_id"].is_unique
    assert pois["poi_id"].str.startswith("osm:").all()
    assert "bench" not in set(pois["value"])
    assert len(pois) == 5
    odd = pois[pois["value"] == "Store"].iloc[0]
    assert odd["name"] == "Odd shop"
    assert odd["text"] == "A place of Store, a type of retail, named Odd shop."
    assert np.allclose(pois.geometry.x, pois["x"])


def test_synthesise_pois_drops_nodata_pixels(small_town, tmp_path, caplog):
    rows_with_data = TOWN_GRID.rowcol(np.array([TOWN_ORIGIN[0] + 125]), np.array([TOWN_ORIGIN[1] + 125]))[0][0]

    def only_museum_row(rows, cols):
        return rows == rows_with_data

    caplog.set_level("INFO")
    pois = synthesise_pois([SourceSpec("osm", str(small_town[1]))], tmp_path / "p.parquet",
                           grid=TOWN_GRID, is_valid=only_museum_row)
    assert sorted(pois["name"].dropna()) == ["Campus", "Museum"]
    assert "on nodata pixels: 3" in caplog.text


def test_synthesise_pois_all_outside_raster(small_town, tmp_path):
    far_away = Grid(TOWN_CRS, 0.0, 100.0, 10.0, width=10, height=10)
    with pytest.raises(NoDataError, match="lies on a valid pixel of the AlphaEarth raster"):
        synthesise_pois([SourceSpec("osm", str(small_town[1]))], tmp_path / "p.parquet",
                        grid=far_away, is_valid=all_valid)
    assert not (tmp_path / "p.parquet").exists()


def test_synthesise_pois_rejects_duplicate_source_names(small_town, tmp_path):
    spec = SourceSpec("osm", str(small_town[1]))
    with pytest.raises(ConfigError, match="names must be unique"):
        synthesise_pois([spec, spec], tmp_path / "p.parquet", grid=TOWN_GRID, is_valid=all_valid)


def test_synthesise_pois_rejects_unknown_format(small_town, tmp_path):
    spec = SourceSpec("osm", str(small_town[1]), format="shapefile")
    with pytest.raises(ConfigError, match="unknown format 'shapefile'"):
        synthesise_pois([spec], tmp_path / "p.parquet", grid=TOWN_GRID, is_valid=all_valid)


def test_helsinki_pois_have_descriptions(helsinki_pbf, tmp_path):
    grid = Grid.from_bounds("EPSG:32635", (385_000, 6_671_000, 387_000, 6_674_000), 10)
    pois = synthesise_pois([SourceSpec("osm", str(helsinki_pbf))], tmp_path / "p.parquet", grid=grid,
                           is_valid=all_valid)
    assert len(pois) > 1000
    assert pois["text"].str.startswith("A place of ").all()
    assert (pois["class"] == "cafe").sum() > 50
