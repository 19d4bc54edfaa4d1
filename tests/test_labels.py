import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Point, box

from aether.evaluation.labels import (
    OTHER,
    check_not_standin_input,
    label_points_from_table,
    layer_key,
    merge_small_classes,
    read_landuse_polygons,
    sample_label_points,
)
from aether.exceptions import ConfigError, NoDataError
from aether.raster.grid import Grid
from tests.generators import TOWN_CRS, TOWN_ORIGIN

X0, Y0 = TOWN_ORIGIN
# Pixel centres end in 7 m relative to the town origin, so every centre lies at
# least 2 m from the town's polygon edges (which lie on multiples of 5 m).
TOWN_GRID = Grid(TOWN_CRS, X0 - 48.0, Y0 + 402.0, 10.0, width=62, height=45)


def action_of(report: pd.DataFrame, label: str) -> str:
    return report.set_index("label").loc[label, "action"]


def test_merge_small_classes__keeps_large_classes():
    labels = pd.Series(["a"] * 5 + ["b"] * 6)
    merged, report = merge_small_classes(labels, 5)
    assert merged.tolist() == labels.tolist()
    assert set(report["action"]) == {"kept"}
    assert report.set_index("label")["points"].to_dict() == {"a": 5, "b": 6}


def test_merge_small_classes__merges_into_other():
    labels = pd.Series(["a"] * 10 + ["b"] * 3 + ["c"] * 3)
    merged, report = merge_small_classes(labels, 5)
    assert merged.tolist() == ["a"] * 10 + [OTHER] * 6
    assert action_of(report, "a") == "kept"
    assert action_of(report, "b") == f"merged into {OTHER}"
    assert action_of(report, "c") == f"merged into {OTHER}"
    assert report.set_index("label").loc["b", "final_label"] == OTHER


def test_merge_small_classes__drops_when_other_too_small():
    labels = pd.Series(["a"] * 10 + ["b"] * 2 + ["c"] * 2)
    merged, report = merge_small_classes(labels, 5)
    assert merged.iloc[:10].tolist() == ["a"] * 10
    assert merged.iloc[10:].isna().all()
    assert action_of(report, "b") == "dropped"
    assert action_of(report, "c") == "dropped"
    assert pd.isna(report.set_index("label").loc["c", "final_label"])


def test_merge_small_classes__existing_other_joins_merge():
    labels = pd.Series(["a"] * 10 + [OTHER] * 3 + ["b"] * 3)
    merged, report = merge_small_classes(labels, 5)
    assert merged.tolist() == ["a"] * 10 + [OTHER] * 6
    assert action_of(report, "b") == f"merged into {OTHER}"
    assert report.set_index("label").loc[OTHER, "final_label"] == OTHER


def test_merge_small_classes__large_existing_other_is_kept():
    labels = pd.Series(["a"] * 10 + [OTHER] * 8 + ["b"] * 2)
    merged, report = merge_small_classes(labels, 5)
    assert merged.tolist() == ["a"] * 10 + [OTHER] * 10
    assert action_of(report, OTHER) == "kept"
    assert action_of(report, "b") == f"merged into {OTHER}"


def test_merge_small_classes__existing_other_dropped_when_small():
    labels = pd.Series(["a"] * 10 + [OTHER] * 2 + ["b"] * 2)
    merged, report = merge_small_classes(labels, 5)
    assert merged.iloc[10:].isna().all()
    assert action_of(report, OTHER) == "dropped"
    assert action_of(report, "b") == "dropped"


def test_merge_small_classes__keeps_index():
    labels = pd.Series(["a"] * 6 + ["b"], index=np.arange(100, 107))
    merged, _ = merge_small_classes(labels, 5)
    assert merged.index.tolist() == list(range(100, 107))


@pytest.fixture(scope="module")
def town_polygons(toy_town_pbf) -> gpd.GeoDataFrame:
    """The town's land-use polygons plus a district around all blocks and allotments nested in one block."""
    polygons = read_landuse_polygons(toy_town_pbf, TOWN_CRS)
    extra = gpd.GeoDataFrame(
        {"osm_id": ["way/district", "way/allotments"], "label": ["district", "allotments"]},
        geometry=[box(X0, Y0, X0 + 400, Y0 + 400), box(X0 + 20, Y0 + 20, X0 + 60, Y0 + 60)],
        crs=TOWN_CRS,
    )
    return pd.concat([polygons, extra], ignore_index=True)


def expected_points(polygons: gpd.GeoDataFrame, grid: Grid, step: int, valid_cols: int = 0) -> pd.DataFrame:
    """Label every on-stride pixel centre by the smallest polygon containing it, with shapely."""
    rows = []
    by_area = polygons.assign(area=polygons.area).sort_values("area")
    for row in range(0, grid.height, step):
        for col in range(0, grid.width, step):
            if col < valid_cols:
                continue
            centre = Point(grid.x_coords()[col], grid.y_coords()[row])
            containing = by_area[by_area.contains(centre)]
            if len(containing):
                smallest = containing.iloc[0]
                rows.append((round(centre.x, 3), round(centre.y, 3), smallest["label"], smallest["osm_id"]))
    return pd.DataFrame(rows, columns=["x", "y", "label", "osm_id"]).sort_values(["x", "y"]).reset_index(drop=True)


def as_table(points: gpd.GeoDataFrame) -> pd.DataFrame:
    table = points[["x", "y", "label", "osm_id"]].copy()
    table["x"] = table["x"].round(3)
    table["y"] = table["y"].round(3)
    return table.sort_values(["x", "y"]).reset_index(drop=True)


def all_valid(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return np.ones(len(rows), dtype=bool)


def test_read_landuse_polygons__toy_town(toy_town_pbf):
    polygons = read_landuse_polygons(toy_town_pbf, TOWN_CRS)
    counts = polygons["label"].value_counts().to_dict()
    assert counts == {"commercial": 8, "residential": 8, "grass": 1}
    assert polygons.crs == TOWN_CRS
    assert polygons.loc[polygons["label"] == "grass", "osm_id"].str.startswith("relation/").all()
    assert polygons["osm_id"].str.startswith("way/").sum() == 16


def test_read_landuse_polygons__other_key(toy_town_pbf):
    polygons = read_landuse_polygons(toy_town_pbf, TOWN_CRS, key="leisure")
    assert polygons["label"].tolist() == ["park"]


def test_read_landuse_polygons__helsinki_reads_only_landuse(helsinki_pbf):
    landuse, other_areas = {}, set()
    for element in osmium.FileProcessor(str(helsinki_pbf), osmium.osm.WAY | osmium.osm.RELATION):
        kind = "way" if isinstance(element, osmium.osm.Way) else "relation"
        tags = dict(element.tags)
        if "landuse" in tags:
            landuse[f"{kind}/{element.id}"] = tags["landuse"].split(";")[0].strip().lower()
        elif "building" in tags or "leisure" in tags or "natural" in tags:
            other_areas.add(f"{kind}/{element.id}")

    polygons = read_landuse_polygons(helsinki_pbf, "EPSG:32635")

    assert len(polygons) > 0
    assert "label" in polygons.columns
    assert set(polygons["osm_id"]) <= set(landuse)
    assert polygons["label"].tolist() == [landuse[osm_id] for osm_id in polygons["osm_id"]]
    assert other_areas
    assert not set(polygons["osm_id"]) & other_areas
    assert set(polygons.geometry.geom_type) <= {"Polygon", "MultiPolygon"}


def test_sample_label_points__smallest_polygon_wins(town_polygons):
    points, _ = sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=10, min_class_points=1)
    by_position = as_table(points).set_index(["x", "y"])["label"]

    def label_at(dx: float, dy: float) -> str:
        row, col = TOWN_GRID.rowcol(np.array([X0 + dx]), np.array([Y0 + dy]))
        key = (round(TOWN_GRID.x_coords()[col[0]], 3), round(TOWN_GRID.y_coords()[row[0]], 3))
        return by_position.loc[key]

    assert label_at(37, 37) == "allotments"
    assert label_at(77, 77) == "commercial"
    assert label_at(177, 77) == "residential"
    # Streets between blocks lie only inside the district polygon.
    assert label_at(97, 47) == "district"
    assert label_at(457, 57) == "grass"


def test_sample_label_points__matches_shapely(town_polygons):
    points, _ = sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=20, min_class_points=1)
    expected = expected_points(town_polygons, TOWN_GRID, step=2)
    pd.testing.assert_frame_equal(as_table(points), expected)


def test_sample_label_points__spacing_stride(town_polygons):
    points, _ = sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=30, min_class_points=1)
    rows, cols = TOWN_GRID.rowcol(points["x"].to_numpy(), points["y"].to_numpy())
    assert len(points) > 0
    assert np.all(rows % 3 == 0)
    assert np.all(cols % 3 == 0)
    assert len(points) == len(expected_points(town_polygons, TOWN_GRID, step=3))


def test_sample_label_points__spacing_rounds_half_up(town_polygons):
    points, _ = sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=25, min_class_points=1)
    rows, cols = TOWN_GRID.rowcol(points["x"].to_numpy(), points["y"].to_numpy())
    assert np.all(rows % 3 == 0)
    assert np.all(cols % 3 == 0)
    assert len(points) == len(expected_points(town_polygons, TOWN_GRID, step=3))


def test_sample_label_points__skips_invalid_pixels(town_polygons):
    def valid_east(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return cols >= 20

    points, _ = sample_label_points(town_polygons, TOWN_GRID, valid_east, spacing=20, min_class_points=1)
    _, cols = TOWN_GRID.rowcol(points["x"].to_numpy(), points["y"].to_numpy())
    assert cols.min() >= 20
    pd.testing.assert_frame_equal(as_table(points), expected_points(town_polygons, TOWN_GRID, step=2, valid_cols=20))


def test_sample_label_points__lonlat_match_xy(town_polygons):
    points, _ = sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=20, min_class_points=1)
    to_utm = Transformer.from_crs("EPSG:4326", TOWN_CRS, always_xy=True)
    x, y = to_utm.transform(points["lon"].to_numpy(), points["lat"].to_numpy())
    assert np.allclose(x, points["x"], atol=0.01)
    assert np.allclose(y, points["y"], atol=0.01)
    assert np.allclose(points.geometry.x, points["x"])
    assert np.allclose(points.geometry.y, points["y"])
    assert points.crs == TOWN_CRS


def test_sample_label_points__label_ids(town_polygons):
    points, _ = sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=20, min_class_points=1)
    classes = sorted(points["label"].unique())
    assert points["label_id"].tolist() == [classes.index(label) for label in points["label"]]
    assert points["point_id"].tolist() == list(range(len(points)))


def test_sample_label_points__rejects_spacing_below_pixel(town_polygons):
    with pytest.raises(ConfigError, match=r"evaluation\.landuse\.spacing is 5\.0 m, below the pixel size 10\.0 m"):
        sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=5.0, min_class_points=1)


def test_sample_label_points__rejects_no_polygons(town_polygons):
    empty = town_polygons.iloc[0:0]
    with pytest.raises(NoDataError, match="no land-use polygons"):
        sample_label_points(empty, TOWN_GRID, all_valid, spacing=20, min_class_points=1)


def test_sample_label_points__rejects_too_few_points(town_polygons):
    message = (
        r"No land-use class has 100000 points at 20 m spacing.*"
        r"evaluation\.landuse\.spacing or evaluation\.landuse\.min_class_points"
    )
    with pytest.raises(NoDataError, match=message):
        sample_label_points(town_polygons, TOWN_GRID, all_valid, spacing=20, min_class_points=100_000)


def test_sample_label_points__rejects_all_invalid(town_polygons):
    def none_valid(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.zeros(len(rows), dtype=bool)

    with pytest.raises(NoDataError, match="No land-use class has 1 points"):
        sample_label_points(town_polygons, TOWN_GRID, none_valid, spacing=20, min_class_points=1)


def test_label_points_from_table(tmp_path):
    grid = Grid("EPSG:32635", 385_000.0, 6_673_000.0, 10.0, width=100, height=100)
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    x = grid.x_coords()[[5, 10, 15, 20, 95]]
    y = grid.y_coords()[[5, 10, 15, 20, 50]]
    lon, lat = to_lonlat.transform(x, y)
    table = pd.DataFrame({"lon": lon, "lat": lat, "kind": ["park", "park", "park", "shops", "park"]})
    table.to_parquet(tmp_path / "labels.parquet")

    def west_half(rows, cols):
        return cols < 50

    points, report = label_points_from_table(tmp_path / "labels.parquet", grid, west_half, label_column="kind",
                                             x_column="lon", y_column="lat", min_class_points=3)
    assert points["label"].tolist() == ["park", "park", "park"]
    assert np.allclose(points["x"], x[:3])
    assert action_of(report, "shops") == "dropped"


def test_label_points_from_table_names_missing_columns(tmp_path):
    grid = Grid("EPSG:32635", 0.0, 100.0, 10.0, width=10, height=10)
    pd.DataFrame({"lon": [1.0], "lat": [2.0]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ConfigError, match=r"column\(s\) \['label', 'x', 'y'\] not found"):
        label_points_from_table(tmp_path / "labels.csv", grid, all_valid, min_class_points=10)


def test_label_points_from_table_outside_raster(tmp_path):
    grid = Grid("EPSG:32635", 0.0, 100.0, 10.0, width=10, height=10)
    pd.DataFrame({"x": [24.9], "y": [60.2], "label": ["a"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(NoDataError, match="no labelled point lies on a valid pixel"):
        label_points_from_table(tmp_path / "labels.csv", grid, all_valid, min_class_points=10)


def test_layer_key_ignores_form():
    assert layer_key("data/city.population.2024.samples.parquet") == "city.population.2024"
    assert layer_key("city.population.2024.labels.tif") == "city.population.2024"
    assert layer_key("landuse.csv") == "landuse"


def test_labels_from_standin_input_are_rejected():
    layers = ["sg.lst_day_mean.2024.labels.tif", "sg.pm25.2022.labels.tif"]
    with pytest.raises(ConfigError, match="come from the layer sg.pm25.2022.labels.tif, which is an input"):
        check_not_standin_input("/data/sg.pm25.2022.samples.parquet", layers)
    check_not_standin_input("/data/sg.landuse.2026.samples.parquet", layers)


def test_sample_label_points__rejects_polygons_elsewhere(town_polygons):
    far_away = Grid(TOWN_CRS, TOWN_ORIGIN[0] + 100_000, TOWN_ORIGIN[1], 10.0, width=50, height=50)
    with pytest.raises(NoDataError, match="overlaps the embedding raster.*Set evaluation.landuse.osm"):
        sample_label_points(town_polygons, far_away, all_valid, spacing=20, min_class_points=1)
