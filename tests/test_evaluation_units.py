"""Units of configured tasks, area features, the POI count baseline and the per-job evaluation steps."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer

from aether.evaluation.features import (
    area_features,
    concatenate_features,
    poi_counts_at_points,
    poi_counts_in_cells,
)
from aether.evaluation.heads import HeadConfig
from aether.evaluation.labels import check_not_standin_input
from aether.evaluation.pipeline import (
    baseline_features,
    evaluate_features,
    joined_features,
    raster_features,
    write_features,
)
from aether.evaluation.spec import TaskSpec
from aether.evaluation.units import CellGrid, build_units, read_label_table
from aether.exceptions import AetherError, ConfigError, NoDataError
from aether.raster.grid import Grid
from aether.raster.store import FLOAT_ENCODING, Block, create_store, open_embedding, write_block

GRID = Grid("EPSG:32635", 385_000.0, 6_672_000.0, 10.0, width=24, height=20)
# Cells of 3 x 3 pixels in the grid's own CRS, offset by one pixel from the grid's corner.
CELLS = CellGrid("EPSG:32635", Affine(30.0, 0, GRID.left + 10, 0, -30.0, GRID.top - 10), height=6, width=7)


def all_valid(rows, cols):
    return np.ones(len(rows), dtype=bool)


def write_float_store(path, values, *, chunk=8, attrs=None):
    create_store(path, GRID, bands=values.shape[0], encoding=FLOAT_ENCODING, chunk=chunk, attrs=attrs or {})
    write_block(path, Block(0, 0, GRID.height, GRID.width), values.astype(np.float32))
    return open_embedding(path)


def cell_centre(row, col, cells=CELLS):
    return cells.corner(row + 0.5, col + 0.5)


def write_cells_tif(path, cells=CELLS, bands=1):
    with rasterio.open(path, "w", driver="GTiff", width=cells.width, height=cells.height, count=bands,
                       dtype="float32", crs=cells.crs, transform=cells.transform) as dataset:
        dataset.write(np.ones((bands, cells.height, cells.width), dtype=np.float32))
    return path


# Area features


def test_area_features__mean_of_pixels_in_cell(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((4, GRID.height, GRID.width))
    values[:, 2, 2] = np.nan  # one nodata pixel inside cell (0, 0)
    values[:, 4:7, 10:13] = np.nan  # cell (1, 3) is all nodata
    array = write_float_store(tmp_path / "s.zarr", values)

    features = area_features(array, CELLS, np.array([0, 1, 5, 0]), np.array([0, 3, 6, 0]))

    first = values[:, 1:4, 1:4].reshape(4, -1)
    expected = np.nanmean(first, axis=1)
    # Cell (5, 6) covers pixel rows 16..18 and columns 19..21.
    last = values[:, 16:19, 19:22].reshape(4, -1).mean(axis=1)
    assert np.allclose(features[0], expected / np.linalg.norm(expected), atol=1e-5)
    assert np.isnan(features[1]).all()
    assert np.allclose(features[2], last / np.linalg.norm(last), atol=1e-5)
    assert np.array_equal(features[3], features[0])


def test_area_features__lonlat_cells_match_brute_force(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((3, GRID.height, GRID.width))
    array = write_float_store(tmp_path / "s.zarr", values, chunk=8)
    to_lonlat = Transformer.from_crs(GRID.crs, "EPSG:4326", always_xy=True)
    west, north = to_lonlat.transform(GRID.left, GRID.top)
    cells = CellGrid("EPSG:4326", Affine(0.0008, 0, west, 0, -0.0004, north), height=5, width=5)
    x, y = np.meshgrid(GRID.x_coords(), GRID.y_coords())
    rows, cols = cells.rowcol(*to_lonlat.transform(x, y))

    features = area_features(array, cells, np.array([1, 2, 3]), np.array([1, 2, 0]))

    for index, (row, col) in enumerate([(1, 1), (2, 2), (3, 0)]):
        inside = (rows == row) & (cols == col)
        assert inside.sum() > 5
        expected = values[:, inside].mean(axis=1)
        assert np.allclose(features[index], expected / np.linalg.norm(expected), atol=1e-5)


# POI counts


POIS = pd.DataFrame({
    # Pixel (row, col): (5, 5), (5, 6), (7, 7), (5, 9), (15, 15)
    "x": GRID.left + 10 * np.array([5, 6, 7, 9, 15]) + 5,
    "y": GRID.top - 10 * np.array([5, 5, 7, 5, 15]) - 5,
    "class": ["cafe", "cafe", "bus stop", "cafe", "bus stop"],
    "category": ["food", "food", "transport", "food", "transport"],
})


def test_poi_counts_at_points__window():
    x = GRID.left + 10 * np.array([5, 15]) + 5
    y = GRID.top - 10 * np.array([6, 15]) - 5
    counts, names = poi_counts_at_points(POIS, GRID, x, y, radius=1, column="class")
    assert names == ["bus stop", "cafe"]
    # The window of (6, 5) with radius 1 holds (5, 5) and (5, 6), not (7, 7) or (5, 9).
    assert counts.tolist() == [[0, 2], [1, 0]]
    wider, _ = poi_counts_at_points(POIS, GRID, x[:1], y[:1], radius=2, column="class")
    assert wider.tolist() == [[1, 2]]


def test_poi_counts_in_cells():
    # Cell (r, c) covers pixel rows 3r+1..3r+3 and columns 3c+1..3c+3.
    counts, names = poi_counts_in_cells(POIS, GRID, CELLS, np.array([1, 2, 4, 0]), np.array([1, 2, 4, 0]),
                                        column="category")
    assert names == ["food", "transport"]
    assert counts.tolist() == [[2, 0], [0, 1], [0, 1], [0, 0]]


def test_poi_counts__unknown_column():
    with pytest.raises(ConfigError, match="no column 'kind' to count by.*evaluation.poi_baseline.column"):
        poi_counts_at_points(POIS, GRID, np.zeros(1), np.zeros(1), radius=1, column="kind")


def test_concatenate_features__normalised_and_nan_kept():
    first = np.array([[3.0, 4.0], [np.nan, np.nan], [1.0, 0.0]])
    second = np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    joined = concatenate_features(first, second)
    assert np.allclose(joined[0], np.array([0.6, 0.8, 0.0, 1.0]) / np.sqrt(2))
    assert np.isnan(joined[1]).all()
    assert np.allclose(joined[2], [1.0, 0.0, 0.0, 0.0])


# Units of configured tasks


def lonlat(x, y):
    return Transformer.from_crs(GRID.crs, "EPSG:4326", always_xy=True).transform(x, y)


def samples_table(path, rows, cols, values):
    centres = [cell_centre(r, c) for r, c in zip(rows, cols)]
    lon, lat = lonlat(np.array([c[0] for c in centres]), np.array([c[1] for c in centres]))
    pd.DataFrame({"x": lon, "y": lat, **values}).to_parquet(path)
    return path


def regression_task(tmp_path, values, **changes):
    rows, cols = np.repeat(np.arange(6), 7), np.tile(np.arange(7), 6)
    labels = samples_table(tmp_path / "c.population.2024.samples.parquet", rows, cols, {"label": values})
    cells = write_cells_tif(tmp_path / "c.population.2024.labels.tif")
    entry = {"name": "population", "type": "regression", "labels": str(labels), "columns": ["label"],
             "units": "area", "cells": str(cells), "transform": "log1p_zscore", **changes}
    return TaskSpec.from_config(entry)


def test_build_units__area_cells(tmp_path):
    task = regression_task(tmp_path, np.arange(42, dtype=float))
    units, report = build_units(task, GRID, all_valid)
    assert len(units) == 42
    assert units["cell_row"].tolist() == np.repeat(np.arange(6), 7).tolist()
    assert units["cell_col"].tolist() == np.tile(np.arange(7), 6).tolist()
    assert np.allclose(units["label"], np.arange(42))
    assert report.set_index("column").loc["label", "max"] == 41


def test_build_units__negative_target_for_log1p(tmp_path):
    values = np.arange(42, dtype=float)
    values[5] = -2
    task = regression_task(tmp_path, values)
    with pytest.raises(AetherError, match=r"c.population.2024.samples.parquet: column 'label' has 1 negative"):
        build_units(task, GRID, all_valid)


def test_build_units__missing_target_column(tmp_path):
    task = regression_task(tmp_path, np.arange(42, dtype=float), columns=["population"])
    with pytest.raises(ConfigError, match=r"target column\(s\) \['population'\] of task 'population' not found; "
                                          r"the table has \['label', 'x', 'y'\]"):
        build_units(task, GRID, all_valid)


def test_build_units__wrong_cells_raster(tmp_path):
    small = CellGrid(CELLS.crs, CELLS.transform, height=2, width=2)
    task = regression_task(tmp_path, np.arange(42, dtype=float))
    write_cells_tif(tmp_path / "c.population.2024.labels.tif", small)
    with pytest.raises(ConfigError, match="38 units of task 'population' fall outside the cells raster"):
        build_units(task, GRID, all_valid)


def test_build_units__nothing_on_grid(tmp_path):
    far = Grid(GRID.crs, GRID.left + 50_000, GRID.top, 10.0, width=24, height=20)
    task = regression_task(tmp_path, np.arange(42, dtype=float))
    with pytest.raises(NoDataError, match="none of the 42 units of task 'population' lies on the embedding raster"):
        build_units(task, far, all_valid)


def test_build_units__distribution_points_from_geojson(tmp_path):
    rows = np.arange(2, 18, 2)
    x, y = GRID.x_coords()[rows], GRID.y_coords()[rows]
    lon, lat = lonlat(x, y)
    frame = gpd.GeoDataFrame({"a": np.arange(8) + 1.0, "b": np.ones(8)}, geometry=gpd.points_from_xy(lon, lat),
                             crs="EPSG:4326")
    frame.to_file(tmp_path / "shares.geojson", driver="GeoJSON")
    task = TaskSpec.from_config({"name": "shares", "type": "distribution", "labels": str(tmp_path / "shares.geojson"),
                                 "columns": ["a", "b"]})
    valid = lambda r, c: r != 4  # noqa: E731
    units, _ = build_units(task, GRID, valid)
    assert len(units) == 7
    assert np.allclose(units[["a", "b"]].sum(axis=1), 1)
    assert np.allclose(units["x"], x[rows != 4], atol=1e-6)
    assert units["a"].iloc[0] == pytest.approx(0.5)


def test_build_units__classification_merges_small_classes(tmp_path):
    labels = np.array(["park"] * 30 + ["shop"] * 10 + ["farm"] * 2)
    rows, cols = np.repeat(np.arange(6), 7), np.tile(np.arange(7), 6)
    centres = np.array([cell_centre(r, c) for r, c in zip(rows, cols)])
    pd.DataFrame({"lon_m": centres[:, 0], "lat_m": centres[:, 1], "kind": labels}).to_csv(tmp_path / "l.csv")
    task = TaskSpec.from_config({"name": "kind", "type": "classification", "labels": str(tmp_path / "l.csv"),
                                 "columns": ["kind"], "x_column": "lon_m", "y_column": "lat_m",
                                 "crs": GRID.crs, "min_class_points": 10})
    units, report = build_units(task, GRID, all_valid)
    assert sorted(units["label"].dropna().unique()) == ["park", "shop"]
    assert (units["label_id"] == -1).sum() == 2
    assert "dropped" in report["action"].tolist()


def test_read_label_table__missing_coordinates(tmp_path):
    pd.DataFrame({"lon": [1.0], "v": [2.0]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ConfigError, match=r"t.csv: coordinate column\(s\) \['x', 'y'\] not found.*Set x_column"):
        read_label_table(tmp_path / "t.csv", x_column="x", y_column="y", crs="EPSG:4326")


def test_read_label_table__missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.parquet: label file not found"):
        read_label_table(tmp_path / "nowhere.parquet", x_column="x", y_column="y", crs="EPSG:4326")


def test_standin_check__any_file_of_a_task():
    task = TaskSpec.from_config({"name": "population", "type": "regression", "labels": "/d/sg.pop.2024.samples.parquet",
                                 "columns": ["label"], "units": "area", "cells": "/d/sg.pop.2024.labels.tif"})
    with pytest.raises(ConfigError, match=r"sg.pop.2024.samples.parquet of task 'population' come from the layer "
                                          r"/s/sg.pop.2024.labels.tif.*remove the task from evaluation.tasks"):
        check_not_standin_input(task.label_files, ["/s/sg.lst.2024.labels.tif", "/s/sg.pop.2024.labels.tif"],
                                task=task.name)
    check_not_standin_input(task.label_files, ["/s/sg.lst.2024.labels.tif"], task=task.name)


# The job steps together


def test_pipeline__area_regression_end_to_end(tmp_path):
    # Each 3x3 cell has its own constant embedding; the target is a linear function of it.
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((CELLS.height, CELLS.width, 6))
    values = np.zeros((6, GRID.height, GRID.width))
    for row in range(CELLS.height):
        for col in range(CELLS.width):
            values[:, 3 * row + 1 : 3 * row + 4, 3 * col + 1 : 3 * col + 4] = centres[row, col][:, None, None]
    write_float_store(tmp_path / "alphaearth.zarr", values + 0.01 * rng.standard_normal(values.shape),
                      attrs={"standin": True})
    unit = centres / np.linalg.norm(centres, axis=2, keepdims=True)
    task = regression_task(tmp_path, (unit[..., 0] * 3 + 5).ravel(), transform="zscore")
    units, _ = build_units(task, GRID, all_valid)
    units.to_parquet(tmp_path / "units.parquet")
    features, standin = raster_features(tmp_path / "alphaearth.zarr", units, units_kind="area",
                                        cells_path=task.cells, radius=1)
    write_features(tmp_path / "f.parquet", units, features, embedding="alphaearth", standin=standin)
    POIS.to_parquet(tmp_path / "pois_plain.parquet")
    gpd.GeoDataFrame(POIS, geometry=gpd.points_from_xy(POIS["x"], POIS["y"]), crs=GRID.crs).to_parquet(
        tmp_path / "pois.parquet")
    counts, names = baseline_features(tmp_path / "pois.parquet", tmp_path / "alphaearth.zarr", units,
                                      units_kind="area", cells_path=task.cells, radius=1, column="class")
    write_features(tmp_path / "p.parquet", units, counts, embedding="poi_counts", standin=False, columns=names)
    _, joined, joined_standin = joined_features([tmp_path / "f.parquet", tmp_path / "p.parquet"])

    metrics = evaluate_features(
        tmp_path / "units.parquet", tmp_path / "f.parquet", task="population", task_type="regression",
        columns=["label"], embedding="alphaearth", protocols=("random",), heads=("linear",), seeds=(0, 1),
        transform="zscore", config=HeadConfig(max_epochs=300, learning_rate=1e-2),
    )

    assert joined.shape == (42, 6 + len(names)) and joined_standin
    assert counts.shape == (42, 2)
    assert metrics[["task", "task_type", "protocol", "embedding", "head"]].iloc[0].tolist() == [
        "population", "regression", "random", "alphaearth", "linear"]
    assert metrics["standin"].all()
    assert (metrics["r2"] > 0.8).all(), metrics["r2"]


def test_pipeline__features_of_other_units_are_rejected(tmp_path):
    units = pd.DataFrame({"unit_id": np.arange(12), "x": np.zeros(12), "y": np.zeros(12), "label": np.ones(12)})
    units.to_parquet(tmp_path / "units.parquet")
    write_features(tmp_path / "f.parquet", units.iloc[:10], np.ones((10, 2), np.float32), embedding="a",
                   standin=False)
    with pytest.raises(AetherError, match="f.parquet: its units differ from .*units.parquet; rerun the feature job"):
        evaluate_features(tmp_path / "units.parquet", tmp_path / "f.parquet", task="t", task_type="regression",
                          columns=["label"], embedding="a", protocols=("random",), heads=("linear",), seeds=(0,))


def test_raster_features__extra_store_in_another_crs(tmp_path):
    other = Grid("EPSG:32634", GRID.left, GRID.top, 10.0, width=GRID.width, height=GRID.height)
    create_store(tmp_path / "extra.zarr", other, bands=2, encoding=FLOAT_ENCODING, chunk=8, attrs={})
    units = pd.DataFrame({"unit_id": [0], "x": [GRID.left + 5], "y": [GRID.top - 5]})
    with pytest.raises(AetherError, match=r"extra.zarr: the store is in EPSG:32634, but the units are in the "
                                          r"AlphaEarth store's EPSG:32635.*evaluation.extra_embeddings"):
        raster_features(tmp_path / "extra.zarr", units, units_kind="point", cells_path=None, radius=1,
                        units_crs=GRID.crs)
