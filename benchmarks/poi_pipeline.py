"""Time POI description synthesis and text encoding, with the embedding cache cold and warm.

    .venv/bin/python benchmarks/poi_pipeline.py --pois 200000 --texts 2000

Synthesis runs on a generated CSV of random named POIs (the whole DuckDB
path: read, map, describe, locate, deduplicate, write GeoParquet). Encoding
uses the configured sentence model (default: the offline all-MiniLM-L6-v2)
on distinct descriptions: first with an empty cache, then again with
everything cached, then after adding 1 % new POIs. The last line is the
share of texts the rerun had to encode.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aether.poi.encoding import DEFAULT_MODEL, encode_pois
from aether.poi.sources import SourceSpec
from aether.poi.synthesis import synthesise_pois
from aether.raster.grid import Grid

WORDS = ["North", "Green", "Royal", "Old", "River", "Park", "Market", "Station", "Corner", "Central", "Hill", "Bay"]
CLASSES = ["cafe", "restaurant", "pub", "bookshop", "bakery", "pharmacy", "school", "bank", "hotel", "museum"]


def random_pois(count: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = [f"{a} {b} {n}" for a, b, n in zip(rng.choice(WORDS, count), rng.choice(WORDS, count),
                                                 rng.integers(0, 10_000, count))]
    return pd.DataFrame(
        {
            "name": names,
            "kind": rng.choice(CLASSES, count),
            "lon": rng.uniform(24.80, 25.10, count),
            "lat": rng.uniform(60.10, 60.30, count),
        }
    )


def time_synthesis(folder: Path, count: int) -> None:
    random_pois(count, seed=0).to_csv(folder / "pois.csv", index=False)
    spec = SourceSpec("bench", str(folder / "pois.csv"), format="csv", x_column="lon", y_column="lat",
                      name_column="name", class_column="kind", fixed_category="benchmark")
    grid = Grid.from_bounds("EPSG:32635", (370_000, 6_660_000, 400_000, 6_695_000), 10)
    started = time.perf_counter()
    written = synthesise_pois([spec], folder / "pois.parquet", grid=grid,
                              is_valid=lambda rows, cols: np.ones(len(rows), dtype=bool))
    seconds = time.perf_counter() - started
    print(f"synthesis: {count:,} POIs in {seconds:.2f} s, {count / seconds:,.0f} POIs/s ({len(written):,} written)")


def time_encoding(folder: Path, count: int, model: str) -> float:
    texts = [f"A place of {kind}, a type of benchmark, named {name}." for kind, name in
             zip(*random_pois(count + count // 100, seed=1)[["kind", "name"]].to_numpy().T)]
    first, extra = texts[:count], texts[count:]
    cache = folder / "cache"

    def run(batch: list[str], label: str) -> dict:
        pd.DataFrame({"poi_id": [f"p{i}" for i in range(len(batch))], "text": batch}).to_parquet(folder / "t.parquet")
        started = time.perf_counter()
        counts = encode_pois(folder / "t.parquet", folder / "e.parquet", model=model, cache_dir=cache)
        seconds = time.perf_counter() - started
        print(f"encoding, {label}: {len(batch):,} texts ({counts['encoded']:,} encoded) in {seconds:.2f} s, "
              f"{len(batch) / seconds:,.0f} texts/s")
        return counts

    run(first, "cache cold")
    run(first, "cache warm")
    counts = run(first + extra, "1 % new")
    return counts["encoded"] / counts["unique_texts"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pois", type=int, default=200_000, help="POIs for the synthesis timing")
    parser.add_argument("--texts", type=int, default=2_000, help="distinct texts for the encoding timing")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="sentence-transformers model name or path")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        time_synthesis(Path(folder), arguments.pois)
        fraction = time_encoding(Path(folder), arguments.texts, arguments.model)
    print(f"encode_rerun_fraction: {fraction:.4f}")


if __name__ == "__main__":
    main()
