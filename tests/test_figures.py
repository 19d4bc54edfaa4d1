import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from aether.figures import plot_points, plot_raster_preview, plot_training_history, principal_components_rgb
from aether.raster.grid import Grid

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GRID = Grid("EPSG:32635", 385_000.0, 6_672_000.0, 10.0, width=30, height=20)


def planted_raster(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return a ``(16, H, W)`` raster and the ``(H, W)`` west-to-east ramp that scales its main direction."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(16)
    direction /= np.linalg.norm(direction)
    ramp = np.broadcast_to(np.linspace(-1.0, 1.0, GRID.width), GRID.shape)
    values = direction[:, None, None] * ramp + 0.01 * rng.standard_normal((16, *GRID.shape))
    return values, ramp


def assert_png(path) -> None:
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 0
    assert image.shape[1] > 0
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_principal_components_rgb__nodata_transparent():
    values, _ = planted_raster()
    values[:, 2:5, 3:9] = np.nan
    rgba = principal_components_rgb(values)
    assert rgba.shape == (*GRID.shape, 4)
    assert np.all(rgba[2:5, 3:9] == 0)
    nodata = np.zeros(GRID.shape, dtype=bool)
    nodata[2:5, 3:9] = True
    assert np.all(rgba[~nodata, 3] == 1)


def test_principal_components_rgb__colours_in_unit_range():
    values, _ = planted_raster()
    values[:, 0, :] = np.nan
    rgb = principal_components_rgb(values)[..., :3]
    assert rgb.min() >= 0
    assert rgb.max() <= 1
    assert rgb.max() > rgb.min()


def test_principal_components_rgb__first_component_follows_ramp():
    values, ramp = planted_raster()
    red = principal_components_rgb(values)[..., 0]
    correlation = np.corrcoef(red.ravel(), ramp.ravel())[0, 1]
    # The sign of a principal component is arbitrary.
    assert abs(correlation) > 0.95


def test_principal_components_rgb__too_few_valid_pixels():
    values = np.full((16, 4, 5), np.nan)
    values[:, 0, :2] = 1.0
    rgba = principal_components_rgb(values)
    assert rgba.shape == (4, 5, 4)
    assert np.all(rgba == 0)


def test_plot_training_history__writes_png(tmp_path):
    epochs = np.arange(1, 11)
    history = pd.DataFrame(
        {
            "epoch": epochs,
            "loss": 3.0 / epochs,
            "ae_ae_loss": 2.0 / epochs,
            "ae_poi_loss": 4.0 / epochs,
            "top1_ae_to_text": 1 - 1 / (epochs + 1),
        }
    )
    path = tmp_path / "history.png"
    plot_training_history(history, path)
    assert_png(path)


@pytest.mark.parametrize("note", ["", "stand-in raster"])
def test_plot_raster_preview__writes_png(tmp_path, note):
    values, _ = planted_raster()
    values[:, :3, :3] = np.nan
    path = tmp_path / "preview.png"
    plot_raster_preview(values, GRID, path, title="test raster", note=note)
    assert_png(path)


def test_plot_points__writes_png(tmp_path):
    rng = np.random.default_rng(1)
    left, bottom, right, top = GRID.bounds
    # 25 categories exceed the 19 coloured ones, so the grey "other values" group is drawn too.
    points = pd.DataFrame(
        {
            "x": rng.uniform(left, right, 200),
            "y": rng.uniform(bottom, top, 200),
            "category": rng.choice([f"category {i}" for i in range(25)], 200),
        }
    )
    path = tmp_path / "points.png"
    plot_points(points, "category", GRID, path, title="200 points", note="stand-in")
    assert_png(path)


def test_standin_note__names_the_stand_in_kind():
    from aether.figures import standin_note

    assert standin_note({"standin": False}) == ""
    assert "OSM physical layers" in standin_note({"standin": True, "standin_layers": []})
    assert "coarse raster layers" in standin_note({"standin": True, "standin_layers": ["lst.tif"]})


def test_plot_store_preview__strides_large_stores(tmp_path, monkeypatch):
    import aether.figures as figures
    from aether.raster.ingest import ingest_raster
    from tests.generators import write_alphaearth_tif

    write_alphaearth_tif(tmp_path / "tile.tif", height=40, width=30)
    ingest_raster(tmp_path / "tile.tif", tmp_path / "ae.zarr", chunk=16)
    drawn = {}
    monkeypatch.setattr(figures, "PREVIEW_PIXELS", 10)
    monkeypatch.setattr(
        figures, "plot_raster_preview", lambda values, grid, path, **kwargs: drawn.update(shape=values.shape, **kwargs)
    )
    figures.plot_store_preview(tmp_path / "ae.zarr", tmp_path / "preview.png", embedding="alphaearth")
    assert drawn["shape"] == (64, 10, 8)  # every 4th of 40 rows and 30 columns
    assert "every 4th pixel" in drawn["title"]
