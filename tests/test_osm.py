import pytest

from aether import duck, osm
from aether.exceptions import ConfigError, InvalidPOIError
from tests.generators import OSMBuilder


def test_load_osm_assembles_ways_and_multipolygons(tmp_path):
    town = OSMBuilder()
    outer = town.rectangle(0, 0, 100, 50, {"building": "yes"})
    town.way([(0, 0), (50, 50)], {"highway": "footway"})
    town.multipolygon(outer, {"landuse": "retail"})
    connection = duck.connect()
    osm.load_osm(connection, town.write(tmp_path / "t.osm.pbf"))

    area = f"ST_Area({osm.transform_sql('geom', town.crs)})"
    areas = connection.execute(
        f"SELECT element, tags['landuse'], {area} FROM osm_areas ORDER BY element DESC"
    ).fetchall()
    assert [row[0] for row in areas] == ["way", "relation"]
    assert areas[1][1] == "retail"
    assert areas[0][2] == pytest.approx(5000, rel=0.01)
    lines = connection.execute("SELECT count(*) FROM osm_ways WHERE tags['highway'] = 'footway'").fetchone()[0]
    assert lines == 1


def test_load_osm_skips_ways_with_missing_nodes(tmp_path):
    town = OSMBuilder()
    town.way([(0, 0), (10, 0)], {"highway": "service"})
    town.ways.append((999, [1, 424242], {"highway": "service"}))
    connection = duck.connect()
    osm.load_osm(connection, town.write(tmp_path / "t.osm.pbf"))
    ids = [row[0] for row in connection.execute("SELECT id FROM osm_ways").fetchall()]
    assert 999 not in ids
    assert len(ids) == 1


def test_load_osm_reports_missing_file(tmp_path):
    with pytest.raises(InvalidPOIError, match="OSM file not found"):
        osm.load_osm(duck.connect(), tmp_path / "missing.osm.pbf")


def test_load_osm_reports_unreadable_file(tmp_path):
    path = tmp_path / "broken.osm.pbf"
    path.write_bytes(b"this is not a protocol buffer")
    with pytest.raises(InvalidPOIError, match="cannot be read as an OSM PBF file"):
        osm.load_osm(duck.connect(), path)


def test_helsinki_extract_loads(helsinki_pbf):
    connection = duck.connect()
    osm.load_osm(connection, helsinki_pbf)
    nodes, buildings = connection.execute(
        "SELECT (SELECT count(*) FROM osm_nodes), (SELECT count(*) FROM osm_areas WHERE tags['building'] IS NOT NULL)"
    ).fetchone()
    assert nodes > 20_000
    assert buildings > 400
    outline = osm.extract_outline(connection)
    assert outline.bounds[0] == pytest.approx(24.935, abs=0.01)
    assert outline.bounds[1] == pytest.approx(60.164, abs=0.01)


def test_transform_sql_rejects_injection():
    with pytest.raises(ValueError, match="authority code"):
        osm.transform_sql("geom", "EPSG:4326'); DROP TABLE osm; --")


def test_spatial_extension_is_found():
    assert duck.spatial_extension_path().name == "spatial.duckdb_extension"


def test_missing_spatial_extension_is_reported(monkeypatch):
    monkeypatch.setattr(duck.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install duckdb-extension-spatial=="):
        duck.spatial_extension_path()
