import numpy as np
import pandas as pd
import pytest

from aether.exceptions import NoDataError
from aether.io import read_table_metadata, read_vector_table
from aether.raster.ingest import ingest_raster
from aether.raster.store import open_embedding, store_grid
from aether.training.views import l2_normalise, pool_points, sample_views
from tests.generators import write_alphaearth_tif


def brute_force_mean(values, row, col, radius):
    rows = slice(max(row - radius, 0), row + radius + 1)
    cols = slice(max(col - radius, 0), col + radius + 1)
    window = values[:, rows, cols].reshape(values.shape[0], -1)
    valid = ~np.isnan(window[0])
    return window[:, valid].mean(axis=1) if valid.any() else np.full(values.shape[0], np.nan)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("views")
    mask = np.zeros((50, 45), dtype=bool)
    mask[20:26, 20:26] = True
    mask[0:3, :] = True
    write_alphaearth_tif(folder / "ae.tif", height=50, width=45, nodata_mask=mask, seed=5)
    # Chunks of 16 pixels make windows cross block borders.
    ingest_raster(folder / "ae.tif", folder / "ae.zarr", chunk=16)
    return open_embedding(folder / "ae.zarr")


def test_pooled_windows_match_brute_force(store):
    grid = store_grid(store)
    values = store.values
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 50, 40), [0, 49, 15, 16, 22]])
    cols = np.concatenate([rng.integers(0, 45, 40), [0, 44, 15, 16, 22]])
    x, y = grid.x_coords()[cols], grid.y_coords()[rows]
    pooled = pool_points(store, x, y, [0, 4, 9], normalise=False)
    for radius in (0, 4, 9):
        means, counts = pooled[radius]
        for i, (row, col) in enumerate(zip(rows, cols)):
            expected = brute_force_mean(values, row, col, radius)
            assert np.allclose(means[i], expected, atol=1e-5, equal_nan=True), (row, col, radius)
            window = values[0, max(row - radius, 0) : row + radius + 1, max(col - radius, 0) : col + radius + 1]
            assert counts[i] == np.sum(~np.isnan(window))


def test_pooled_vectors_are_unit_length(store):
    grid = store_grid(store)
    x, y = grid.x_coords()[[5, 30]], grid.y_coords()[[10, 40]]
    means, _ = pool_points(store, x, y, [4])[4]
    assert np.allclose(np.linalg.norm(means, axis=1), 1, atol=1e-5)


def test_window_inside_nodata_hole_is_nan(store):
    grid = store_grid(store)
    means, counts = pool_points(store, grid.x_coords()[[22]], grid.y_coords()[[22]], [1, 4])[1]
    assert counts[0] == 0
    assert np.isnan(means[0]).all()


def test_points_outside_grid_get_nan(store):
    grid = store_grid(store)
    means, counts = pool_points(store, np.array([grid.left - 100]), np.array([grid.top + 100]), [4])[4]
    assert counts[0] == 0
    assert np.isnan(means).all()


def test_sample_views_drops_pois_without_data(store, tmp_path):
    grid = store_grid(store)
    pois = pd.DataFrame(
        {
            "poi_id": ["in_hole", "fine", "edge"],
            "x": grid.x_coords()[[22, 10, 0]],
            "y": grid.y_coords()[[22, 30, 49]],
        }
    )
    table = sample_views(store, pois, tmp_path / "views.parquet", base_radius=1, augmented_radius=3)
    assert table["poi_id"].tolist() == ["fine", "edge"]
    scalars, vectors = read_vector_table(tmp_path / "views.parquet", ["base", "augmented"])
    assert vectors["base"].shape == (2, 64)
    assert (scalars["augmented_valid_pixels"] >= scalars["base_valid_pixels"]).all()
    assert read_table_metadata(tmp_path / "views.parquet") == {"base_radius": "1", "augmented_radius": "3"}


def test_sample_views_without_any_data(store, tmp_path):
    grid = store_grid(store)
    pois = pd.DataFrame({"poi_id": ["a"], "x": grid.x_coords()[[22]], "y": grid.y_coords()[[22]]})
    with pytest.raises(NoDataError, match="No POI has a valid pixel within 1 pixels"):
        sample_views(store, pois, tmp_path / "views.parquet", base_radius=1, augmented_radius=2)
    assert not (tmp_path / "views.parquet").exists()


def test_l2_normalise_leaves_zero_rows():
    result = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(result[0], [0.6, 0.8])
    assert np.array_equal(result[1], [0.0, 0.0])
