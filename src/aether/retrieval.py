"""Natural-language retrieval maps: a text query scored against every pixel of the AETHER raster.

The query goes through the same frozen sentence model as the POI
descriptions and through the trained text projector. Its cosine similarity
with each unit AETHER vector gives a similarity raster. The highest local
maxima, at least ``min_separation`` metres apart, are the top places, each
reported with the nearest POI for orientation.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
import pandas as pd
import rasterio
import torch
import xarray as xr
from pyproj import Transformer
from scipy import ndimage
from scipy.spatial import cKDTree

from aether.figures import map_figure_size, standin_note
from aether.exceptions import ConfigError
from aether.io import atomic_output, read_vector_table, write_vector_table
from aether.poi.encoding import encode_texts, load_model
from aether.raster import store
from aether.raster.grid import Grid
from aether.training.model import TextProjector
from aether.training.train import load_checkpoint

logger = logging.getLogger(__name__)


@torch.no_grad()
def project_query(text_projector: TextProjector, sentence_embedding: np.ndarray) -> np.ndarray:
    """Project one sentence embedding into the AETHER space (unit length)."""
    vector = torch.from_numpy(np.asarray(sentence_embedding, dtype=np.float32)[None, :])
    return text_projector(vector)[0].numpy()


def similarity_map(aether: xr.DataArray, query: np.ndarray) -> np.ndarray:
    """Return the ``(H, W)`` cosine similarity of every pixel with a unit query vector; NaN on nodata."""
    grid = store.store_grid(aether)
    similarity = np.full(grid.shape, np.nan, dtype=np.float32)
    for block in store.iter_blocks(grid, store.store_chunk(aether)):
        rows, cols = block.slices
        values = aether.isel(y=rows, x=cols).values
        similarity[rows, cols] = np.tensordot(query, values, axes=(0, 0))
    return similarity


def top_places(
    similarity: np.ndarray,
    grid: Grid,
    *,
    count: int,
    min_separation: float,
    pois: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Return the ``count`` best local maxima at least ``min_separation`` metres apart.

    With ``pois`` (columns ``x``, ``y``, ``name``, ``class``), each place also
    gets its nearest POI and the distance to it in metres.
    """
    separation = min_separation / grid.resolution
    radius = max(1, math.ceil(separation))
    filled = np.where(np.isnan(similarity), -np.inf, similarity)
    peaks = (filled == ndimage.maximum_filter(filled, size=2 * radius + 1, mode="nearest")) & np.isfinite(filled)
    rows, cols = np.nonzero(peaks)
    order = np.argsort(-filled[rows, cols], kind="stable")
    chosen: list[int] = []
    for index in order:
        if all((rows[index] - rows[c]) ** 2 + (cols[index] - cols[c]) ** 2 >= separation**2 for c in chosen):
            chosen.append(index)
            if len(chosen) == count:
                break
    rows, cols = rows[chosen], cols[chosen]
    x, y = grid.x_coords()[cols], grid.y_coords()[rows]
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    places = pd.DataFrame(
        {"rank": np.arange(1, len(rows) + 1), "similarity": similarity[rows, cols], "x": x, "y": y, "lon": lon, "lat": lat}
    )
    if pois is not None and len(pois) and len(places):
        distance, nearest = cKDTree(pois[["x", "y"]].to_numpy()).query(places[["x", "y"]].to_numpy())
        places["nearest_poi"] = pois["name"].fillna("(unnamed)").to_numpy()[nearest]
        places["nearest_poi_class"] = pois["class"].to_numpy()[nearest]
        places["nearest_poi_distance_m"] = distance
    return places


def write_similarity_geotiff(path: str | Path, similarity: np.ndarray, grid: Grid, *, query: str) -> None:
    """Write a similarity raster as a single-band float32 GeoTIFF with NaN nodata."""
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "height": grid.height,
        "width": grid.width,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": np.nan,
        "compress": "deflate",
    }
    with atomic_output(path) as temporary:
        with rasterio.open(temporary, "w", **profile) as dataset:
            dataset.write(similarity, 1)
            dataset.set_band_description(1, "cosine similarity")
            dataset.update_tags(query=query)


def plot_similarity(
    path: str | Path, similarity: np.ndarray, grid: Grid, places: pd.DataFrame, *, query: str, note: str = ""
) -> None:
    """Draw the similarity map with the top places numbered."""
    left, bottom, right, top = grid.bounds
    figure = Figure(figsize=map_figure_size(grid), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(
        np.ma.masked_invalid(similarity), extent=(left, right, bottom, top), cmap="magma", interpolation="nearest"
    )
    axes.set_facecolor("#d9d9d9")
    for place in places.itertuples():
        axes.plot(place.x, place.y, marker="o", markersize=9, markerfacecolor="none", markeredgecolor="cyan")
        axes.annotate(str(place.rank), (place.x, place.y), xytext=(5, 5), textcoords="offset points", color="cyan")
    axes.set_title(f"“{query}”", fontsize=11)
    axes.set_xlabel(f"x ({grid.crs}, m)")
    axes.set_ylabel("y (m)")
    axes.ticklabel_format(useOffset=False, style="plain")
    axes.tick_params(labelsize=7)
    figure.colorbar(image, ax=axes, shrink=0.8, label="cosine similarity")
    if note:
        axes.set_xlabel(f"x ({grid.crs}, m)\n{note}")
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")


def encode_queries(
    queries: dict[str, str], output: str | Path, *, model: str, device: str = "cpu", offline: bool = True
) -> None:
    """Encode the configured queries with the sentence model and write ``name``, ``text`` and ``embedding``."""
    names = list(queries)
    vectors = encode_texts([queries[name] for name in names], load_model(model, device=device, offline=offline))
    write_vector_table(
        output,
        pd.DataFrame({"name": names, "text": [queries[name] for name in names]}),
        {"embedding": vectors},
        metadata={"model": model},
    )
    logger.info("Encoded %d queries with %s", len(names), model)


def run_query(
    aether_path: str | Path,
    checkpoint_path: str | Path,
    pois_path: str | Path,
    queries_path: str | Path,
    *,
    name: str,
    top_k: int,
    min_separation: float,
    raster: str | Path,
    places: str | Path,
    figure: str | Path,
) -> pd.DataFrame:
    """Score one encoded query and write the similarity GeoTIFF, the top places (Parquet) and a PNG map."""
    queries, vectors = read_vector_table(queries_path, ["embedding"])
    matches = np.flatnonzero(queries["name"].to_numpy() == name)
    if len(matches) != 1:
        raise ConfigError(f"{queries_path} has no query named {name!r}; rerun the query_embedding rule.")
    query = str(queries["text"].iloc[matches[0]])

    aether = store.open_embedding(aether_path)
    grid = store.store_grid(aether)
    _, text_projector, _ = load_checkpoint(checkpoint_path)
    similarity = similarity_map(aether, project_query(text_projector, vectors["embedding"][matches[0]]))

    pois = pd.read_parquet(pois_path, columns=["x", "y", "name", "class"])
    top = top_places(similarity, grid, count=top_k, min_separation=min_separation, pois=pois)
    top.insert(0, "query", query)
    for place in top.itertuples():
        logger.info("#%d similarity %.3f at (%.5f, %.5f), nearest POI: %s",
                    place.rank, place.similarity, place.lon, place.lat, getattr(place, "nearest_poi", "-"))

    write_similarity_geotiff(raster, similarity, grid, query=query)
    with atomic_output(places) as temporary:
        top.to_parquet(temporary, index=False)
    note = standin_note(aether.attrs)
    plot_similarity(figure, similarity, grid, top, query=query, note=note)
    return top
