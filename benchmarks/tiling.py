"""Tile a London-sized AlphaEarth area into the Zarr store, against reading it whole with rioxarray.

The area is about 58 x 45 km at 10 m (~26 M pixels) and, like London, it
straddles the border between UTM zones 30N and 31N at 0 degrees longitude.
It is covered by generated int8 tiles in the public format (deflate, 256 px
blocks, -128 nodata): two in zone 30N (one stored bottom-up, as some mirrors
do) and one in zone 31N.

Two ways of building the store are timed, each in its own process so that
peak memory is measured separately:

- tiled: what the workflow does. The working grid is cut into tiles, and
  ``--jobs`` processes fill them block by block (as ``snakemake --cores N``
  would run the tile jobs), then the tiles are joined by linking chunk files.
- whole: open every file with rioxarray, load it whole, reproject the zone
  31N file onto the working grid in memory, merge, and write the result to
  Zarr with xarray.

Run it by hand (it writes about 2 GB of tiles under --workdir):

    .venv/bin/python benchmarks/tiling.py --jobs 2

The last line is ``tiling_speedup: <whole seconds / tiled seconds>``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer

from aether.raster.codec import NODATA_CODE, quantise
from aether.raster.mosaic import assemble_tiles, plan_mosaic, write_tile

# The area: London's extent, rounded (lon/lat).
AREA = (-0.51, 51.28, 0.33, 51.69)
POOL_SIZE = 4096


def _code_pool(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((64, POOL_SIZE))
    vectors /= np.linalg.norm(vectors, axis=0, keepdims=True)
    return quantise(vectors)


def write_tile_file(path: Path, crs: str, bounds: tuple[float, float, float, float], *, bottom_up: bool, seed: int) -> int:
    """Write an int8 public-format tile covering ``bounds`` (in ``crs``), 1024 rows at a time."""
    left, bottom, right, top = (round(value, -1) for value in bounds)
    width, height = int((right - left) / 10), int((top - bottom) / 10)
    transform = (
        rasterio.Affine(10, 0, left, 0, 10, bottom) if bottom_up else rasterio.Affine(10, 0, left, 0, -10, top)
    )
    profile = {
        "driver": "GTiff", "dtype": "int8", "count": 64, "width": width, "height": height, "crs": crs,
        "transform": transform, "nodata": NODATA_CODE, "tiled": True, "blockxsize": 256, "blockysize": 256,
        "compress": "deflate", "interleave": "pixel", "BIGTIFF": "YES",
    }
    pool = _code_pool(seed)
    rng = np.random.default_rng(seed)
    cols = np.arange(width)[None, :]
    with rasterio.open(path, "w", **profile) as dataset:
        for row in range(0, height, 1024):
            rows = np.arange(row, min(row + 1024, height))[:, None]
            # Patches of similar vectors with per-pixel variation, so the tiles compress about as
            # poorly as real embeddings do rather than as a repeating pattern would.
            patch = (rows // 5) * 131 + (cols // 7) * 17
            index = (patch + rng.integers(0, 64, size=(len(rows), width))) % POOL_SIZE
            dataset.write(pool[:, index], window=rasterio.windows.Window(0, row, width, len(rows)))
    return width * height


def generate(folder: Path) -> list[str]:
    """Tiles covering the area: two in zone 30N (west of 0°), one in zone 31N (east of 0°)."""
    folder.mkdir(parents=True, exist_ok=True)
    west, south, east, north = AREA
    to30 = Transformer.from_crs("EPSG:4326", "EPSG:32630", always_xy=True)
    to31 = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    x0, y0 = to30.transform(west - 0.01, south - 0.01)
    x1, y1 = to30.transform(0.0, north + 0.01)
    x_mid = (x0 + x1) / 2
    pieces = [
        ("30N_a.tif", "EPSG:32630", (x0, y0, x_mid, y1 + 2000), True),
        ("30N_b.tif", "EPSG:32630", (x_mid, y0, x1 + 3000, y1 + 2000), False),
    ]
    a0, b0 = to31.transform(-0.02, south - 0.01)
    a1, b1 = to31.transform(east + 0.01, north + 0.01)
    pieces.append(("31N_a.tif", "EPSG:32631", (a0, b0, a1, b1), False))
    paths = []
    for seed, (name, crs, bounds, bottom_up) in enumerate(pieces):
        path = folder / name
        if not path.exists():
            write_tile_file(path, crs, bounds, bottom_up=bottom_up, seed=seed)
        paths.append(str(path))
    return paths


def _settings(paths: list[str], tile: int) -> dict:
    return {"files": paths, "area": {"bbox": list(AREA)}, "crs": "auto", "resolution": 10, "tile": tile, "chunk": 256}


def _fill(arguments):
    sources, grid, block, output = arguments
    return write_tile(sources, grid, block, output, chunk=256)


def run_tiled(paths: list[str], output: Path, jobs: int, tile: int) -> dict:
    started = time.perf_counter()
    plan = plan_mosaic(_settings(paths, tile))
    parts = output.parent / "tiled-parts"
    work = [(plan.tile_sources(t.name), plan.grid, t.block, parts / f"{t.name}.zarr") for t in plan.tiles]
    with ProcessPoolExecutor(jobs) as pool:
        valid = sum(pool.map(_fill, work))
    assemble_tiles([item[3] for item in work], plan.grid, output, chunk=256, attrs={"kind": "alphaearth"})
    seconds = time.perf_counter() - started
    shutil.rmtree(parts)
    return {"seconds": seconds, "pixels": plan.grid.width * plan.grid.height, "valid": valid, "tiles": len(plan.tiles)}


def run_whole(paths: list[str], output: Path) -> dict:
    import rioxarray
    import xarray as xr
    from rioxarray.merge import merge_arrays

    from aether.raster.codec import dequantise

    started = time.perf_counter()
    plan = plan_mosaic(_settings(paths, 4096))
    arrays = []
    for path in paths:
        array = rioxarray.open_rasterio(path).load()
        if array.rio.crs.to_string() != plan.grid.crs:
            array = array.rio.reproject(plan.grid.crs, resolution=10, resampling=rasterio.enums.Resampling.nearest)
        arrays.append(array)
    merged = merge_arrays(arrays, bounds=plan.grid.bounds, res=10, nodata=NODATA_CODE)
    values = xr.DataArray(dequantise(merged.values), dims=merged.dims, coords=merged.coords)
    values.chunk({"band": 64, "y": 256, "x": 256}).to_dataset(name="embedding").to_zarr(output, mode="w", zarr_format=2)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "pixels": int(merged.sizes["x"] * merged.sizes["y"])}


def read_back(output: Path, int8: bool) -> float:
    """Seconds to read the whole store back as float32 vectors, 256 rows at a time."""
    import xarray as xr

    from aether.raster.store import open_embedding

    started = time.perf_counter()
    array = open_embedding(output) if int8 else xr.open_zarr(output)["embedding"]
    for row in range(0, array.sizes["y"], 256):
        array.isel(y=slice(row, row + 256)).values
    return time.perf_counter() - started


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2, help="parallel tile jobs (like snakemake --cores)")
    parser.add_argument("--tile", type=int, default=2048, help="tile edge in pixels (alphaearth.tile)")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the generated tiles (kept)")
    parser.add_argument("--skip-whole", action="store_true", help="time only the tiled path")
    parser.add_argument("--run", choices=["tiled", "whole"], help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:
        paths = json.loads(args.paths)
        result = run_tiled(paths, args.output, args.jobs, args.tile) if args.run == "tiled" else run_whole(paths, args.output)
        result["peak_mb"] = _peak_mb()
        result["read_seconds"] = read_back(args.output, int8=args.run == "tiled")
        print(json.dumps(result))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="aether-tiling-"))
    started = time.perf_counter()
    paths = generate(workdir / "tiles")
    size_gb = sum(Path(path).stat().st_size for path in paths) / 1e9
    print(f"input: {len(paths)} int8 tiles, {size_gb:.2f} GB on disk, generated or reused in {time.perf_counter() - started:.0f} s")

    results = {}
    for mode in ["tiled"] + ([] if args.skip_whole else ["whole"]):
        output = workdir / f"{mode}.zarr"
        shutil.rmtree(output, ignore_errors=True)
        command = [sys.executable, __file__, "--run", mode, "--paths", json.dumps(paths), "--output", str(output),
                   "--jobs", str(args.jobs), "--tile", str(args.tile)]
        completed = subprocess.run(command, capture_output=True, text=True)
        if completed.returncode != 0:
            print(f"{mode}: failed\n{completed.stderr[-3000:]}")
            continue
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        results[mode] = result
        extra = f", {result['tiles']} tiles, {args.jobs} jobs" if mode == "tiled" else ""
        stored_gb = sum(path.stat().st_size for path in output.rglob("*") if path.is_file()) / 1e9
        extra += (
            f", store {stored_gb:.2f} GB ({'int8 codes' if mode == 'tiled' else 'float32'}), "
            f"read back as float32 in {result['read_seconds']:.1f} s"
        )
        print(
            f"{mode}: {result['pixels'] / 1e6:.1f} M px in {result['seconds']:.1f} s, "
            f"{result['pixels'] / result['seconds'] / 1e6:.2f} M px/s, peak memory {result['peak_mb']:,.0f} MB{extra}"
        )
        shutil.rmtree(output, ignore_errors=True)
    if "whole" in results and "tiled" in results:
        print(f"tiling_speedup: {results['whole']['seconds'] / results['tiled']['seconds']:.2f}")


if __name__ == "__main__":
    main()
