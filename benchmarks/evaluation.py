"""Time the evaluation hot paths on synthetic data: cell means and stacked heads of each task type.

    .venv/bin/python benchmarks/evaluation.py --size 2048 --units 20000

Prints one line per measurement; nothing is asserted. The raster is a float
store of ``size`` x ``size`` pixels with 64 bands; the cells are 100 m
(10 x 10 pixels) in the raster's own CRS, as a lower bound on the lon/lat
cells of the CityRep layers, which cost one projection more per pixel.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from affine import Affine

from aether.evaluation.features import area_features
from aether.evaluation.heads import HeadConfig
from aether.evaluation.tasks import evaluate_units
from aether.evaluation.units import CellGrid
from aether.raster.grid import Grid
from aether.raster.store import FLOAT_ENCODING, create_store, iter_blocks, open_embedding, write_block


def build_store(path: Path, size: int) -> tuple[Grid, np.ndarray]:
    grid = Grid("EPSG:32648", 360_000.0, 150_000.0, 10.0, width=size, height=size)
    create_store(path, grid, bands=64, encoding=FLOAT_ENCODING, chunk=256, attrs={})
    rng = np.random.default_rng(0)
    for block in iter_blocks(grid, 256):
        write_block(path, block, rng.standard_normal((64, block.height, block.width)).astype(np.float32))
    return grid, rng


def time_cells(path: Path, grid: Grid, units: int) -> None:
    cells = CellGrid(grid.crs, Affine(100.0, 0, grid.left, 0, -100.0, grid.top), grid.height // 10, grid.width // 10)
    rng = np.random.default_rng(1)
    flat = rng.choice(cells.height * cells.width, size=min(units, cells.height * cells.width), replace=False)
    start = time.perf_counter()
    area_features(open_embedding(path), cells, flat // cells.width, flat % cells.width)
    seconds = time.perf_counter() - start
    print(f"area_features: {len(flat)} cells over {grid.width * grid.height / 1e6:.1f} M pixels in {seconds:.1f} s")


def time_heads(units: int, threads: int) -> None:
    torch.set_num_threads(threads)
    rng = np.random.default_rng(2)
    features = rng.standard_normal((units, 64)).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    x, y = rng.uniform(0, 50_000, units), rng.uniform(0, 30_000, units)
    logits = features[:, :10] * 4
    targets = {
        "classification": logits.argmax(axis=1),
        "distribution": np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True),
        "regression": features[:, 0] * 3 + 1,
    }
    config = HeadConfig(max_epochs=30)
    for task_type, target in targets.items():
        for head in ("linear", "mlp", "mlp1024"):
            start = time.perf_counter()
            metrics = evaluate_units(features, target, task_type=task_type, x=x, y=y, protocols=("random",),
                                     heads=(head,), seeds=(42, 24, 7, 0, 100), config=config)
            seconds = time.perf_counter() - start
            epochs = int(metrics["epochs"].max())
            print(f"{task_type:14s} {head:8s} 5 seeds, {units} units, {epochs} epochs at most: {seconds:.1f} s "
                  f"({seconds / epochs:.2f} s per epoch, {threads} threads)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="raster edge in pixels")
    parser.add_argument("--units", type=int, default=20_000, help="number of units")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.zarr"
        grid, _ = build_store(path, arguments.size)
        time_cells(path, grid, arguments.units)
    time_heads(arguments.units, arguments.threads)


if __name__ == "__main__":
    main()
