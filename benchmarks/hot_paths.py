"""Time the hot paths of the workflow on a generated AlphaEarth-format raster.

Prints throughput figures for tiling a GeoTIFF into the Zarr store, pooling
POI views, projecting every pixel and one training epoch, plus the peak
resident memory of the process. Run it by hand:

    .venv/bin/python benchmarks/hot_paths.py --size 2048 --pois 100000

The raster is smooth random unit vectors encoded as int8 public-tile codes;
the POIs are uniform random points. Figures depend on the machine; quote
them with its core count.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import torch

from aether.inference import apply_projector
from aether.raster.codec import NODATA_CODE, quantise
from aether.raster.ingest import ingest_raster
from aether.raster.store import open_embedding, store_grid
from aether.training.model import AEProjector
from aether.training.train import TrainingConfig, TrainingData, train_projectors
from aether.training.views import pool_points


def write_tile(path: Path, size: int, seed: int) -> None:
    """Write a ``size`` x ``size`` int8 tile block by block, so that generation needs little memory."""
    rng = np.random.default_rng(seed)
    profile = {
        "driver": "GTiff", "dtype": "int8", "count": 64, "width": size, "height": size, "crs": "EPSG:32630",
        "transform": rasterio.Affine(10, 0, 500_000, 0, -10, 5_700_000), "nodata": NODATA_CODE,
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate", "interleave": "pixel",
    }
    basis = rng.standard_normal((64, 8))
    with rasterio.open(path, "w", **profile) as dataset:
        for row in range(0, size, 256):
            rows = np.arange(row, min(row + 256, size))[:, None]
            cols = np.arange(size)[None, :]
            waves = np.stack([np.sin(rows / (20 + 7 * k) + cols / (30 + 5 * k) + k) for k in range(8)])
            vectors = np.tensordot(basis, waves, axes=(1, 0)) + 0.1 * rng.standard_normal((64, len(rows), size))
            vectors /= np.linalg.norm(vectors, axis=0, keepdims=True)
            window = rasterio.windows.Window(0, row, size, len(rows))
            dataset.write(quantise(vectors), window=window)


def timed(label: str, function, count: int, unit: str):
    started = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.2f} s, {count / seconds:,.0f} {unit}/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2048, help="raster edge in pixels (default 2048)")
    parser.add_argument("--pois", type=int, default=100_000, help="number of random POIs to pool (default 100000)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    pixels = arguments.size**2
    print(f"raster {arguments.size} x {arguments.size} = {pixels:,} px, {arguments.pois:,} POIs, "
          f"{arguments.threads} torch threads")

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_tile(folder / "tile.tif", arguments.size, seed=0)
        timed("tiling (GeoTIFF -> Zarr)", lambda: ingest_raster(folder / "tile.tif", folder / "ae.zarr"), pixels, "px")
        alphaearth = open_embedding(folder / "ae.zarr")
        grid = store_grid(alphaearth)

        rng = np.random.default_rng(1)
        left, bottom, right, top = grid.bounds
        x = rng.uniform(left, right, arguments.pois)
        y = rng.uniform(bottom, top, arguments.pois)
        pooled = timed("view pooling (r = 4 and 9)", lambda: pool_points(alphaearth, x, y, [4, 9]), arguments.pois, "POI")

        projector = AEProjector().eval()
        timed("inference (64 -> 128)", lambda: apply_projector(alphaearth, projector, folder / "aether.zarr", attrs={}),
              pixels, "px")

        count = min(arguments.pois, 20_000)
        text = rng.standard_normal((count, 384)).astype(np.float32)
        data = TrainingData(np.arange(count).astype(str), pooled[4][0][:count], pooled[9][0][:count],
                            text / np.linalg.norm(text, axis=1, keepdims=True), {})
        timed("training (1 epoch, batch 512)", lambda: train_projectors(data, TrainingConfig(epochs=1)), count, "POI")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak_memory_mb: {peak:.0f}")


if __name__ == "__main__":
    main()
