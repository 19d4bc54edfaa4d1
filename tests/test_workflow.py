"""The Snakemake workflow as a user runs it: lint, config validation, one reduced end-to-end run, reruns.

The end-to-end run uses the synthetic town of tests/generators.py, a few
training epochs and two evaluation seeds, and checks every artifact by
type (Parquet with pandas, Zarr and GeoTIFF with xarray and rasterio), not
byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
import yaml
from pyproj import Transformer

from aether.io import read_vector_table
from aether.raster.store import open_embedding, store_grid
from aether.training.train import load_checkpoint
from tests.generators import TOWN_CRS, TOWN_ORIGIN, toy_town, write_alphaearth_tif

ROOT = Path(__file__).resolve().parents[1]
CITY = "town"
QUERY = "bookshop"
EPOCHS = 3


def snakemake(*arguments: str, workdir: Path, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*command, *arguments], capture_output=True, text=True, env=environment)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(arguments)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def reduced_config(osm_path: Path) -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["city"] = CITY
    config["alphaearth"]["standin"]["osm"] = str(osm_path)
    config["alphaearth"]["chunk"] = 32
    config["pois"]["sources"][0]["path"] = str(osm_path)
    config["training"]["epochs"] = EPOCHS
    config["evaluation"]["seeds"] = [42, 24]
    config["evaluation"]["max_epochs"] = 20
    config["evaluation"]["landuse"].update({"osm": str(osm_path), "spacing": 10, "min_class_points": 10})
    config["retrieval"]["queries"] = {QUERY: "a bookshop selling books"}
    return config


def write_config(workdir: Path, config: dict) -> None:
    # Snakefile's `configfile: "config.yaml"` is read from the working directory.
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def write_cell_task(workdir: Path) -> dict:
    """A regression task on 50 m cells over the town, laid out like a CityRep layer (samples + label raster)."""
    size, cell = 8, 50.0
    left, top = TOWN_ORIGIN[0], TOWN_ORIGIN[1] + size * cell
    transform = rasterio.transform.from_origin(left, top, cell, cell)
    rows, cols = np.divmod(np.arange(size * size), size)
    x, y = rasterio.transform.xy(transform, rows, cols)
    lon, lat = Transformer.from_crs(TOWN_CRS, "EPSG:4326", always_xy=True).transform(x, y)
    # The target grows towards the commercial blocks of the town's diagonal.
    values = 100.0 - np.abs(rows - cols) * 10.0
    pd.DataFrame({"row": rows, "col": cols, "x": lon, "y": lat, "label": values}).to_parquet(
        workdir / "town.density.2024.samples.parquet")
    with rasterio.open(workdir / "town.density.2024.labels.tif", "w", driver="GTiff", width=size, height=size,
                       count=1, dtype="float32", crs=TOWN_CRS, transform=transform) as dataset:
        dataset.write(values.reshape(1, size, size).astype(np.float32))
    return {"name": "density", "type": "regression", "units": "area", "columns": ["label"],
            "labels": str(workdir / "town.density.2024.samples.parquet"),
            "cells": str(workdir / "town.density.2024.labels.tif"), "transform": "log1p_zscore"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    osm_path = toy_town(workdir / "town.osm.pbf")
    config = reduced_config(osm_path)
    config["evaluation"]["tasks"] = [write_cell_task(workdir)]
    write_config(workdir, config)
    snakemake("--cores", "2", workdir=workdir)
    return workdir


def test_lint_reports_nothing():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_config_with_unknown_key_is_rejected(tmp_path, helsinki_pbf):
    config = reduced_config(helsinki_pbf)
    config["training"]["epoch"] = 5
    write_config(tmp_path, config)
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "training: unknown key 'epoch' (did you mean 'epochs'?)" in result.stdout + result.stderr


def test_config_with_wrong_type_is_rejected(tmp_path, helsinki_pbf):
    config = reduced_config(helsinki_pbf)
    config["training"]["ae_ae_weight"] = 1.5
    write_config(tmp_path, config)
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "1.5 is greater than the maximum of 1" in result.stdout + result.stderr


def test_missing_alphaearth_file_is_reported_before_any_job(tmp_path, helsinki_pbf):
    config = reduced_config(helsinki_pbf)
    config["alphaearth"]["files"] = ["tiles/a.tif"]
    write_config(tmp_path, config)
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "alphaearth.files: tiles/a.tif not found" in result.stdout + result.stderr


def test_area_outside_files_rejected_early(tmp_path, helsinki_pbf):
    write_alphaearth_tif(tmp_path / "tile.tif")
    config = reduced_config(helsinki_pbf)
    config["alphaearth"].update(files=["tile.tif"], area={"bbox": [2.3, 48.8, 2.4, 48.9]})
    write_config(tmp_path, config)
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "intersects none of the AlphaEarth files: tile.tif covers lon/lat" in result.stdout + result.stderr


def test_fetch_needs_an_area_and_an_index(tmp_path, helsinki_pbf):
    config = reduced_config(helsinki_pbf)
    config["alphaearth"]["fetch"] = {"enabled": True}
    write_config(tmp_path, config)
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "alphaearth.fetch needs alphaearth.area" in result.stdout + result.stderr


def test_defaults_fill_missing_sections(tmp_path):
    write_config(tmp_path, {"city": "helsinki"})
    result = snakemake("-n", workdir=tmp_path)
    assert "standin_raster" in result.stdout


def test_alphaearth_store_artifact(finished_run):
    path = finished_run / f"results/{CITY}/alphaearth/alphaearth.zarr"
    plain = xr.open_zarr(path)["embedding"]
    assert plain.sizes["band"] == 64
    assert plain.rio.crs.to_string() == "EPSG:32635"
    store = open_embedding(path)
    assert store.attrs["standin"] is True
    assert store.attrs["encoding"] == "aef-int8"
    values = store.values
    valid = ~np.isnan(values[0])
    assert valid.sum() > 100
    assert np.isnan(values[:, ~valid]).all()
    assert np.allclose(np.linalg.norm(values[:, valid], axis=0), 1, atol=0.02)


def test_poi_and_text_artifacts(finished_run):
    pois = gpd.read_parquet(finished_run / f"results/{CITY}/pois/pois.parquet")
    assert pois.crs.to_string() == "EPSG:32635"
    assert {"poi_id", "name", "class", "category", "text", "x", "y"} <= set(pois.columns)
    assert pois["poi_id"].is_unique
    scalars, vectors = read_vector_table(finished_run / f"results/{CITY}/pois/text_embeddings.parquet", ["embedding"])
    assert scalars["poi_id"].tolist() == pois["poi_id"].tolist()
    assert vectors["embedding"].shape == (len(pois), 384)
    assert np.allclose(np.linalg.norm(vectors["embedding"], axis=1), 1, atol=1e-3)


def test_training_artifacts(finished_run):
    training = finished_run / f"results/{CITY}/training"
    scalars, vectors = read_vector_table(training / "views.parquet", ["base", "augmented"])
    assert vectors["base"].shape == (len(scalars), 64)
    assert np.allclose(np.linalg.norm(vectors["augmented"], axis=1), 1, atol=1e-4)
    history = pd.read_parquet(training / "history.parquet")
    assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    assert np.isfinite(history["loss"]).all()
    _, _, payload = load_checkpoint(training / "checkpoint.pt")
    assert payload["metadata"]["pois"] == len(scalars)
    log = (finished_run / f"results/{CITY}/logs/train.log").read_text()
    assert f"Only {len(scalars)} POIs for a batch size of 512" in log


def test_aether_artifacts(finished_run):
    alphaearth = open_embedding(finished_run / f"results/{CITY}/alphaearth/alphaearth.zarr")
    aether = open_embedding(finished_run / f"results/{CITY}/aether/aether.zarr")
    assert aether.sizes["band"] == 128
    assert store_grid(aether) == store_grid(alphaearth)
    values = aether.values
    valid = ~np.isnan(values[0])
    assert np.array_equal(valid, ~np.isnan(alphaearth.values[0]))
    assert np.allclose(np.linalg.norm(values[:, valid], axis=0), 1, atol=1e-4)
    with rasterio.open(finished_run / f"results/{CITY}/aether/aether.tif") as dataset:
        assert dataset.count == 128
        assert dataset.crs.to_string() == "EPSG:32635"
        assert np.allclose(dataset.read(1), values[0], equal_nan=True)


def test_evaluation_artifacts(finished_run):
    evaluation = finished_run / f"results/{CITY}/evaluation"
    summary = pd.read_parquet(evaluation / "summary.parquet")
    assert sorted(summary["embedding"].unique()) == ["aether", "alphaearth", "alphaearth_poi", "poi_counts"]
    assert sorted(summary["protocol"].unique()) == ["random", "spatial_block"]
    assert sorted(summary["head"].unique()) == ["linear", "mlp", "mlp1024"]
    assert dict(zip(summary["task"], summary["task_type"])) == {"density": "regression", "landuse": "classification"}
    keys = ["task", "protocol", "embedding", "head"]
    assert len(summary) == len(summary[keys].drop_duplicates()) == 2 * 2 * 4 * 3
    assert (summary["seeds"] == 2).all()
    landuse = summary[summary["task"] == "landuse"]
    assert landuse["macro_f1_mean"].between(0, 1).all()
    assert summary.loc[summary["task"] == "density", "rmse_mean"].gt(0).all()
    assert summary["standin"].all()
    units = pd.read_parquet(evaluation / "density" / "units.parquet")
    assert len(units) == 64
    markdown = (evaluation / "summary.md").read_text()
    # Once at the top and once in each task's section.
    assert markdown.count("Stand-in data") == 3
    assert " ± " in markdown
    assert "## density (regression)" in markdown


def test_retrieval_artifacts(finished_run):
    retrieval = finished_run / f"results/{CITY}/retrieval"
    with rasterio.open(retrieval / f"{QUERY}.tif") as dataset:
        similarity = dataset.read(1)
    finite = similarity[np.isfinite(similarity)]
    assert finite.size > 100
    assert np.all(np.abs(finite) <= 1 + 1e-5)
    places = pd.read_parquet(retrieval / f"{QUERY}_top.parquet")
    assert places["similarity"].is_monotonic_decreasing
    assert (retrieval / f"{QUERY}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_rule_logged_and_benchmarked(finished_run):
    results = finished_run / f"results/{CITY}"
    benchmarks = sorted(path.stem for path in (results / "benchmarks").glob("*.tsv"))
    logs = sorted(path.stem for path in (results / "logs").glob("*.log"))
    assert benchmarks == logs
    assert "train" in benchmarks
    # Evaluation: landuse_labels, task_units for density, then per task unit_features and evaluate_task for each
    # of the 4 embeddings, and the summary.
    assert len(benchmarks) == 34
    assert "evaluate_task_density_alphaearth_poi" in benchmarks


def test_invalid_raster_keeps_previous_store(finished_run):
    store = finished_run / f"results/{CITY}/alphaearth/alphaearth.zarr"
    before = sorted(path.name for path in store.iterdir())
    write_alphaearth_tif(finished_run / "rgb.tif", bands=3, values=np.ones((3, 4, 4)) / np.sqrt(3))
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    config["alphaearth"]["files"] = [str(finished_run / "rgb.tif")]
    (finished_run / "rgb.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--cores", "1", "--configfile", str(finished_run / "rgb.yaml"), workdir=finished_run,
                       check=False)
    assert result.returncode != 0
    assert "rgb.tif: found 3 bands" in result.stdout + result.stderr
    assert sorted(path.name for path in store.iterdir()) == before


def test_rerun_has_nothing_to_do(finished_run):
    result = snakemake("-n", workdir=finished_run)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_config_edit_reruns_only_downstream_rules(finished_run):
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    config["training"]["epochs"] = EPOCHS + 1
    edited = finished_run / "edited.yaml"
    edited.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", str(edited), workdir=finished_run)
    planned = result.stdout
    assert "rule train:" in planned
    assert "rule aether_store:" in planned
    assert "rule text_embeddings:" not in planned
    assert "rule pois:" not in planned


def test_new_query_reruns_only_that_query(finished_run):
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    config["retrieval"]["queries"]["park"] = "a green park with trees"
    (finished_run / "park.yaml").write_text(yaml.safe_dump(config))
    planned = snakemake("-n", "--configfile", str(finished_run / "park.yaml"), workdir=finished_run).stdout
    assert "rule query_embedding:" in planned
    assert planned.count("rule retrieval:") == 1
    assert "output: results/town/retrieval/park.tif" in planned


def test_report_is_written(finished_run):
    snakemake("--report", "report.html", workdir=finished_run)
    html = (finished_run / "report.html").read_text(errors="replace")
    assert "stand-in" in html.lower()


def test_landuse_task_can_be_switched_off(tmp_path):
    write_config(tmp_path, {"city": "helsinki", "evaluation": {"landuse": {"source": "none"}}})
    result = snakemake("-n", workdir=tmp_path)
    assert "rule train:" in result.stdout
    assert "evaluate_task" not in result.stdout
    assert "evaluation_summary" not in result.stdout


def test_task_on_a_standin_layer_is_refused(tmp_path):
    layers = ["layers/x.lst.2024.labels.tif", "layers/x.population.2024.labels.tif"]
    task = {"name": "population", "type": "regression", "units": "area", "columns": ["label"],
            "labels": "data/x.population.2024.samples.parquet", "cells": "data/x.population.2024.labels.tif"}
    write_config(tmp_path, {"city": "x", "alphaearth": {"standin": {"layers": layers}},
                            "evaluation": {"landuse": {"source": "none"}, "tasks": [task]}})
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "x.population.2024.samples.parquet of task 'population' come from the layer" in result.stdout + result.stderr


def test_unknown_task_type_is_rejected(tmp_path):
    task = {"name": "age", "type": "ranking", "labels": "age.parquet", "columns": ["a", "b"]}
    write_config(tmp_path, {"city": "x", "evaluation": {"tasks": [task]}})
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "evaluation.tasks.0.type: 'ranking' is not one of" in result.stdout + result.stderr


def test_area_task_without_cells_is_rejected(tmp_path):
    task = {"name": "gdp", "type": "regression", "units": "area", "labels": "gdp.parquet", "columns": ["label"]}
    write_config(tmp_path, {"city": "x", "evaluation": {"tasks": [task]}})
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "task 'gdp' has area units but no cells raster" in result.stdout + result.stderr


def test_landuse_points_need_a_table(tmp_path):
    write_config(tmp_path, {"city": "helsinki", "evaluation": {"landuse": {"source": "points"}}})
    result = snakemake("-n", workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "evaluation.landuse.points is not set" in result.stdout + result.stderr


def test_configfile_replaces_default_config(tmp_path, helsinki_pbf):
    write_config(tmp_path, reduced_config(helsinki_pbf))
    other = {"city": "other", "retrieval": {"queries": {"parks": "a green park"}}}
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    result = snakemake("-n", "--configfile", str(tmp_path / "other.yaml"), workdir=tmp_path)
    assert "results/other/retrieval/parks.png" in result.stdout
    assert f"{QUERY}.png" not in result.stdout


def test_extra_embedding_is_evaluated(tmp_path):
    (tmp_path / "other.zarr").mkdir()
    write_config(tmp_path, {"city": "x", "evaluation": {"extra_embeddings": {"other": "other.zarr"}}})
    result = snakemake("-n", workdir=tmp_path)
    assert "results/x/evaluation/landuse/metrics_other.parquet" in result.stdout
    assert "results/x/evaluation/landuse/metrics_alphaearth_poi.parquet" in result.stdout
