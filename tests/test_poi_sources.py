"""Readers of the non-OSM POI formats, on generated files and on the real London and Singapore sets."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import Transformer

from aether import duck
from aether.exceptions import ConfigError, InvalidPOIError
from aether.poi.sources import SourceSpec, read_source
from aether.poi.synthesis import duplicate_mask, read_sources

PLACES = pd.DataFrame(
    {
        "title": ["Cafe Uno", "Book Nook", "Town Hall"],
        "kind": ["cafe", "books", "townhall"],
        "group": ["food and drink", "retail", "public services"],
        "lon": [24.940, 24.945, 24.950],
        "lat": [60.170, 60.171, 60.172],
    }
)


def read(spec: SourceSpec) -> pd.DataFrame:
    return read_source(duck.connect(), spec.validated())


def places_in(crs: str) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(PLACES, geometry=gpd.points_from_xy(PLACES["lon"], PLACES["lat"]), crs="EPSG:4326")
    return frame.to_crs(crs)


def assert_places_located(frame: pd.DataFrame) -> None:
    ordered = frame.set_index("name").loc[PLACES["title"]]
    assert np.allclose(ordered["lon"], PLACES["lon"], atol=1e-7)
    assert np.allclose(ordered["lat"], PLACES["lat"], atol=1e-7)


def test_geopackage_in_projected_crs(tmp_path):
    places_in("EPSG:3067").to_file(tmp_path / "places.gpkg", layer="pois")
    frame = read(SourceSpec("gpkg", str(tmp_path / "places.gpkg"), format="gpkg", layer="pois",
                            name_column="title", class_column="kind", category_column="group"))
    assert_places_located(frame)
    assert frame["class_raw"].tolist() == PLACES["kind"].tolist()


def test_geoparquet_polygons_become_centroids(tmp_path):
    frame = places_in("EPSG:32635")
    frame["geometry"] = frame.buffer(20)
    frame.to_parquet(tmp_path / "places.parquet")
    read_back = read(SourceSpec("gp", str(tmp_path / "places.parquet"), format="geoparquet", name_column="title",
                                fixed_class="place", fixed_category="misc"))
    assert_places_located(read_back)
    assert set(read_back["class_raw"]) == {"place"}


def test_geojson_with_category_table(tmp_path):
    places_in("EPSG:4326").to_file(tmp_path / "places.geojson", driver="GeoJSON")
    table = tmp_path / "table.csv"
    table.write_text("key,value,class,category,include\nkind,cafe,coffee house,food and drink,true\n"
                     "kind,*,,other,true\nkind,townhall,,,false\n")
    frame = read(SourceSpec("gj", str(tmp_path / "places.geojson"), format="geojson", name_column="title",
                            keys=("kind",), categories=str(table)))
    assert frame["key"].unique().tolist() == ["kind"]
    assert sorted(frame["value"]) == ["books", "cafe", "townhall"]


def test_csv_with_projected_coordinates(tmp_path):
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3067", always_xy=True).transform(PLACES["lon"], PLACES["lat"])
    PLACES.assign(easting=x, northing=y).drop(columns=["lon", "lat"]).to_csv(tmp_path / "p.csv", index=False)
    frame = read(SourceSpec("csv", str(tmp_path / "p.csv"), format="csv", x_column="easting", y_column="northing",
                            crs="EPSG:3067", name_column="title", class_column="kind", category_column="group"))
    assert_places_located(frame)


def test_csv_lonlat_defaults_to_wgs84(tmp_path):
    PLACES.to_csv(tmp_path / "p.csv", index=False)
    frame = read(SourceSpec("csv", str(tmp_path / "p.csv"), format="csv", x_column="lon", y_column="lat",
                            name_column="title", class_column="kind", category_column="group"))
    assert_places_located(frame)
    assert frame["source_id"].tolist() == ["row/1", "row/2", "row/3"]


def test_csv_rows_without_coordinates_are_skipped(tmp_path, caplog):
    PLACES.assign(lon=[24.94, None, 24.95]).to_csv(tmp_path / "p.csv", index=False)
    caplog.set_level("WARNING")
    frame = read(SourceSpec("csv", str(tmp_path / "p.csv"), format="csv", x_column="lon", y_column="lat",
                            fixed_class="x", fixed_category="y"))
    assert len(frame) == 2
    assert "1 of 3 rows have no geometry or coordinates" in caplog.text


def test_overture_places(tmp_path):
    geometry = shapely.to_wkb(shapely.points(PLACES["lon"], PLACES["lat"]))
    table = pa.table(
        {
            "id": ["ov1", "ov2", "ov3"],
            "names": [{"primary": n} for n in PLACES["title"]],
            "categories": [
                {"primary": "coffee_shop", "alternate": ["cafe"]},
                {"primary": None, "alternate": ["bookstore"]},
                {"primary": "town_hall", "alternate": []},
            ],
            "geometry": pa.array(list(geometry), type=pa.binary()),
        }
    )
    metadata = {b"geo": b'{"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": '
                        b'{"encoding": "WKB", "geometry_types": ["Point"]}}}'}
    pq.write_table(table.replace_schema_metadata(metadata), tmp_path / "places.parquet")
    spec = SourceSpec("overture", str(tmp_path / "places.parquet"), format="overture")
    frame = read_sources([spec], duck.connect()).set_index("name")
    assert frame.loc["Cafe Uno", "class_raw"] == "coffee shop"
    assert frame.loc["Book Nook", "value"] == "bookstore"
    assert frame.loc["Town Hall", "category_raw"] == "public services"
    assert frame.loc["Cafe Uno", "source_id"] == "ov1"
    assert_places_located(frame.reset_index())


# Failure paths


def test_missing_file(tmp_path):
    with pytest.raises(InvalidPOIError, match="file not found"):
        read(SourceSpec("x", str(tmp_path / "missing.geojson"), format="geojson", fixed_class="a",
                        fixed_category="b"))


def test_missing_columns_are_listed(tmp_path):
    PLACES.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InvalidPOIError, match=r"column\(s\) \['longitude', 'latitude'\] not found; the file has"):
        read(SourceSpec("csv", str(tmp_path / "p.csv"), format="csv", x_column="longitude", y_column="latitude",
                        fixed_class="a", fixed_category="b"))


def test_parquet_without_geometry(tmp_path):
    PLACES.to_parquet(tmp_path / "plain.parquet")
    with pytest.raises(InvalidPOIError, match="no geometry column found"):
        read(SourceSpec("p", str(tmp_path / "plain.parquet"), format="geoparquet", fixed_class="a",
                        fixed_category="b"))


def test_unknown_crs_is_rejected():
    with pytest.raises(ConfigError, match="unknown CRS 'EPSG:999999'"):
        SourceSpec("csv", "p.csv", format="csv", x_column="x", y_column="y", crs="EPSG:999999",
                   fixed_class="a", fixed_category="b").validated()


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
def test_geometry_without_crs_needs_override(tmp_path):
    places_in("EPSG:4326").set_crs(None, allow_override=True).to_file(tmp_path / "nocrs.gpkg")
    spec = SourceSpec("g", str(tmp_path / "nocrs.gpkg"), format="gpkg", name_column="title", fixed_class="a",
                      fixed_category="b")
    with pytest.raises(InvalidPOIError, match=r"have no CRS. Set pois.sources\[g\].crs"):
        read(spec)
    frame = read(SourceSpec(**{**spec.__dict__, "crs": "EPSG:4326"}))
    assert_places_located(frame)


def test_empty_source(tmp_path):
    PLACES.iloc[:0].to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(InvalidPOIError, match="is empty"):
        read(SourceSpec("e", str(tmp_path / "empty.csv"), format="csv", x_column="lon", y_column="lat",
                        fixed_class="a", fixed_category="b"))


def test_invalid_utf8(tmp_path):
    (tmp_path / "latin.csv").write_bytes("title,lon,lat\nCaf\xe9 Bleu,24.94,60.17\n".encode("latin-1"))
    spec = SourceSpec("l", str(tmp_path / "latin.csv"), format="csv", x_column="lon", y_column="lat",
                      name_column="title", fixed_class="cafe", fixed_category="food")
    with pytest.raises(InvalidPOIError, match="not valid utf-8 text"):
        read(spec)
    frame = read(SourceSpec(**{**spec.__dict__, "encoding": "latin-1"}))
    assert frame["name"].tolist() == ["Café Bleu"]


def test_repeated_ids_are_rejected(tmp_path):
    PLACES.assign(code=["a", "a", "b"]).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InvalidPOIError, match="id_column 'code' has empty or repeated values"):
        read(SourceSpec("p", str(tmp_path / "p.csv"), format="csv", x_column="lon", y_column="lat",
                        id_column="code", fixed_class="a", fixed_category="b"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "shapefile"}, "unknown format 'shapefile'"),
        ({}, "every POI needs a class and a category"),
        ({"fixed_class": "a"}, "every POI needs a class and a category"),
        ({"keys": ("kind",), "fixed_class": "a", "fixed_category": "b"}, "not both"),
        ({"keys": ("kind",)}, "keys need a category table"),
        ({"class_column": "kind", "fixed_class": "a", "fixed_category": "b"}, "as a column or as a constant"),
        ({"fixed_class": "a", "fixed_category": "b", "x_column": None}, "CSV sources need x_column and y_column"),
    ],
)
def test_invalid_source_configs(changes, message):
    base = {"name": "s", "path": "p.csv", "format": "csv", "x_column": "x", "y_column": "y"}
    with pytest.raises(ConfigError, match=message):
        SourceSpec(**{**base, **changes}).validated()


def test_from_config_maps_class_and_category():
    spec = SourceSpec.from_config({"name": "h", "path": "h.geojson", "format": "geojson", "class": "hospital",
                                   "category": "health"})
    assert (spec.fixed_class, spec.fixed_category) == ("hospital", "health")


# Duplicates


def test_duplicates_merge_same_name_and_class_nearby():
    pois = pd.DataFrame(
        {
            "name": ["Cafe A", "Cafe A", "Cafe A", "Cafe A", None, None],
            "class": ["cafe", "cafe", "pub", "cafe", "cafe", "cafe"],
            "x": [0.0, 5.0, 5.0, 500.0, 0.0, 1.0],
            "y": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    assert duplicate_mask(pois, 10).tolist() == [False, True, False, False, False, False]
    assert not duplicate_mask(pois, 0).any()


def test_duplicate_chains_keep_first():
    pois = pd.DataFrame({"name": ["A"] * 3, "class": ["c"] * 3, "x": [0.0, 8.0, 16.0], "y": [0.0] * 3})
    assert duplicate_mask(pois, 10).tolist() == [False, True, True]


# Real benchmark files


def test_london_sources(shared_data):
    london = shared_data / "london"
    specs = [
        SourceSpec("pois", str(london / "london_pois.geojson"), format="geojson", name_column="name",
                   class_column="subcategory", category_column="category_label"),
        SourceSpec("hospitals", str(london / "london_hospitals.geojson"), format="geojson",
                   name_column="hospital_name", fixed_class="hospital", fixed_category="health"),
        SourceSpec("schools", str(london / "london_schools_ofsted.geojson"), format="geojson",
                   name_column="school_name", class_column="phase", fixed_category="education", id_column="urn"),
    ]
    frame = read_sources(specs, duck.connect())
    counts = frame.groupby("source").size()
    assert counts["pois"] == 10_352
    assert counts["hospitals"] == 181
    assert counts["schools"] >= 2_200
    assert frame["lon"].between(-0.6, 0.4).all()
    assert frame["lat"].between(51.2, 51.8).all()


def test_singapore_sources(shared_data):
    singapore = shared_data / "singapore"
    specs = [
        SourceSpec("gp", str(singapore / "GP_Locations.geojson"), format="geojson", name_column="NAME",
                   fixed_class="general practitioner clinic", fixed_category="health"),
        SourceSpec("polyclinics", str(singapore / "Polyclinics.geojson"), format="geojson", name_column="NAME",
                   fixed_class="polyclinic", fixed_category="health"),
        SourceSpec("mrt", str(singapore / "LTAMRTStationExitGEOJSON.geojson"), format="geojson",
                   name_column="STATION_NA", fixed_class="MRT station exit", fixed_category="transport"),
        SourceSpec("bus", str(singapore / "bus_stops.geojson"), format="geojson", name_column="Description",
                   id_column="BusStopCode", fixed_class="bus stop", fixed_category="transport"),
    ]
    frame = read_sources(specs, duck.connect())
    counts = frame.groupby("source").size()
    assert counts.to_dict() == {"bus": 5_207, "gp": 237, "mrt": 613, "polyclinics": 26}
    assert frame["lon"].between(103.5, 104.2).all()
    assert frame["lat"].between(1.1, 1.6).all()
