import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
import xarray as xr

from aether.exceptions import InvalidCheckpointError
from aether.inference import export_cog, project_block, run_inference
from aether.raster.ingest import ingest_raster
from aether.raster.store import open_embedding, read_attrs, store_grid
from aether.raster.standin import STANDIN_TAG
from aether.training.model import AEProjector, ProjectorConfig, TextProjector
from aether.training.train import TrainingConfig, save_checkpoint
from tests.generators import write_alphaearth_tif


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inference")
    mask = np.zeros((37, 29), dtype=bool)
    mask[5:9, 3:20] = True
    write_alphaearth_tif(folder / "ae.tif", height=37, width=29, nodata_mask=mask, tags={STANDIN_TAG: "true"})
    ingest_raster(folder / "ae.tif", folder / "ae.zarr", chunk=16)
    torch.manual_seed(0)
    ae, text = AEProjector(), TextProjector()
    history = pd.DataFrame([{"epoch": 1, "loss": 1.0}])
    save_checkpoint(folder / "c.pt", ae, text, projector_config=ProjectorConfig(), training_config=TrainingConfig(),
                    history=history, metadata={"text_model": "m"})
    return folder, ae.eval()


def test_project_block_keeps_nodata():
    projector = AEProjector().eval()
    values = np.random.default_rng(0).standard_normal((64, 3, 4)).astype(np.float32)
    values[:, 1, 2] = np.nan
    projected = project_block(projector, values, batch_pixels=5)
    assert projected.shape == (128, 3, 4)
    assert np.isnan(projected[:, 1, 2]).all()
    assert np.isfinite(np.delete(projected.reshape(128, -1), 6, axis=1)).all()


def test_aether_store_equals_direct_projection(inputs):
    folder, projector = inputs
    run_inference(folder / "ae.zarr", folder / "c.pt", folder / "aether.zarr")
    alphaearth = open_embedding(folder / "ae.zarr").values
    aether = open_embedding(folder / "aether.zarr")
    assert aether.shape == (128, 37, 29)
    assert store_grid(aether) == store_grid(open_embedding(folder / "ae.zarr"))
    pixels = torch.from_numpy(alphaearth[:, 30, :].T.copy())
    with torch.no_grad():
        expected = projector(pixels).numpy().T
    assert np.allclose(aether.values[:, 30, :], expected, atol=1e-5)
    assert np.isnan(aether.values[:, 6, 10]).all()
    valid = ~np.isnan(aether.values[0])
    assert np.allclose(np.linalg.norm(aether.values[:, valid], axis=0), 1, atol=1e-4)


def test_aether_store_carries_standin_flag_and_crs(inputs):
    folder, _ = inputs
    run_inference(folder / "ae.zarr", folder / "c.pt", folder / "aether2.zarr")
    assert read_attrs(folder / "aether2.zarr")["standin"] is True
    assert xr.open_zarr(folder / "aether2.zarr")["embedding"].rio.crs.to_string() == "EPSG:32635"


def test_checkpoint_with_other_input_size_is_rejected(inputs, tmp_path):
    folder, _ = inputs
    config = ProjectorConfig(ae_dim=32)
    save_checkpoint(tmp_path / "c32.pt", AEProjector(config), TextProjector(config), projector_config=config,
                    training_config=TrainingConfig(), history=pd.DataFrame([{"loss": 1.0}]), metadata={})
    with pytest.raises(InvalidCheckpointError, match="expects 32-d AlphaEarth vectors"):
        run_inference(folder / "ae.zarr", tmp_path / "c32.pt", tmp_path / "aether.zarr")
    assert not (tmp_path / "aether.zarr").exists()


def test_cog_export_matches_store(inputs, tmp_path):
    folder, _ = inputs
    run_inference(folder / "ae.zarr", folder / "c.pt", tmp_path / "aether.zarr")
    store = open_embedding(tmp_path / "aether.zarr")
    export_cog(store, tmp_path / "aether.tif")
    with rasterio.open(tmp_path / "aether.tif") as dataset:
        assert dataset.count == 128
        assert dataset.crs.to_string() == "EPSG:32635"
        assert dataset.transform == store_grid(store).transform
        assert dataset.profile["tiled"]
        data = dataset.read()
    assert np.array_equal(data, store.values, equal_nan=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aether.tif", "aether.zarr"]
