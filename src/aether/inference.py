"""Apply the trained AE projector to every pixel: the AETHER raster.

The AlphaEarth store is read one chunk-aligned block at a time. The valid
pixels of a block go through the projector in batches, and the 128-d result
is written to the same block of a float32 store on the same grid. Nodata
pixels stay NaN.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
import torch
import xarray as xr

from aether.exceptions import InvalidCheckpointError
from aether.io import atomic_output
from aether.logs import progress
from aether.raster import store
from aether.training.model import AEProjector
from aether.training.train import load_checkpoint

logger = logging.getLogger(__name__)


@torch.no_grad()
def project_block(projector: AEProjector, values: np.ndarray, *, batch_pixels: int = 65536) -> np.ndarray:
    """Project a ``(64, H, W)`` block into ``(out_dim, H, W)``; NaN pixels stay NaN."""
    bands, height, width = values.shape
    pixels = values.reshape(bands, -1).T
    valid = ~np.isnan(pixels).any(axis=1)
    out_dim = projector.post[-1].out_features
    projected = np.full((len(pixels), out_dim), np.nan, dtype=np.float32)
    index = np.flatnonzero(valid)
    for start in range(0, len(index), batch_pixels):
        chunk = index[start : start + batch_pixels]
        projected[chunk] = projector(torch.from_numpy(np.ascontiguousarray(pixels[chunk]))).numpy()
    return projected.T.reshape(out_dim, height, width)


def apply_projector(
    alphaearth: xr.DataArray,
    projector: AEProjector,
    output: str | Path,
    *,
    attrs: dict,
) -> int:
    """Write the AETHER store of ``alphaearth``; return the number of valid pixels projected."""
    grid = store.store_grid(alphaearth)
    chunk = store.store_chunk(alphaearth)
    out_dim = projector.post[-1].out_features
    blocks = list(store.iter_blocks(grid, chunk))
    projected_pixels = 0
    with atomic_output(output) as temporary:
        store.create_store(
            temporary, grid, bands=out_dim, encoding=store.FLOAT_ENCODING, chunk=chunk, attrs={"kind": "aether", **attrs}
        )
        for block in progress(blocks, desc="project", unit="block"):
            rows, cols = block.slices
            values = alphaearth.isel(y=rows, x=cols).values
            projected_pixels += int((~np.isnan(values[0])).sum())
            store.write_block(temporary, block, project_block(projector, values))
    logger.info("Projected %d valid pixels in %d blocks into %s", projected_pixels, len(blocks), output)
    return projected_pixels


def export_cog(array: xr.DataArray, output: str | Path) -> None:
    """Write an embedding store as a float32 Cloud-Optimised GeoTIFF, block by block."""
    grid = store.store_grid(array)
    chunk = store.store_chunk(array)
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": array.sizes["band"],
        "height": grid.height,
        "width": grid.width,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": np.nan,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
        "interleave": "pixel",
        "BIGTIFF": "IF_SAFER",
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".cog-") as staging_dir:
        staging = Path(staging_dir) / "tiled.tif"
        with rasterio.open(staging, "w", **profile) as dataset:
            for block in progress(list(store.iter_blocks(grid, chunk)), desc="cog", unit="block"):
                rows, cols = block.slices
                window = rasterio.windows.Window(block.col, block.row, block.width, block.height)
                dataset.write(array.isel(y=rows, x=cols).values, window=window)
        # The COG driver adds overviews and reorders the file so that readers
        # can fetch any window or zoom level with a few HTTP range requests.
        # NOTE: this copy compresses everything again in one thread. For
        # Singapore's 5056 x 2888 px AETHER raster (7.5 GB of float32) it was
        # still running after 13 minutes on 2 cores, so the city
        # configurations switch the export off.
        with atomic_output(output) as temporary:
            rasterio.shutil.copy(staging, temporary, driver="COG", compress="DEFLATE", predictor="3", blocksize=256)


def run_inference(alphaearth_path: str | Path, checkpoint_path: str | Path, output: str | Path) -> int:
    """Write the AETHER store of an AlphaEarth store with the AE projector of a checkpoint."""
    alphaearth = store.open_embedding(alphaearth_path)
    projector, _, payload = load_checkpoint(checkpoint_path)
    expected = payload["projector_config"]["ae_dim"]
    if alphaearth.sizes["band"] != expected:
        raise InvalidCheckpointError(
            f"{checkpoint_path} expects {expected}-d AlphaEarth vectors, but {alphaearth_path} has "
            f"{alphaearth.sizes['band']} bands. Retrain on this store."
        )
    attrs = {
        "source_store": str(alphaearth_path),
        "checkpoint": str(checkpoint_path),
        "standin": bool(alphaearth.attrs.get("standin", False)),
        "standin_source": alphaearth.attrs.get("standin_source", ""),
        "text_model": payload["metadata"].get("text_model", ""),
    }
    return apply_projector(alphaearth, projector, output, attrs=attrs)
