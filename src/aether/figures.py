"""Figures for the report: training curves and maps of rasters, POIs and labels.

All figures use matplotlib's object-oriented API without pyplot, so they
render on machines without a display and never touch global state.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aether.io import atomic_output
from aether.raster.grid import Grid
from aether.raster.store import open_embedding, store_grid

# Maximum length in pixels of the longer side of a preview. Larger stores are
# read with a stride, so a preview does not load a whole city into memory.
PREVIEW_PIXELS = 1200


def standin_note(attrs: dict) -> str:
    """Return the caption line that marks a map built on a stand-in, or an empty string for real AlphaEarth."""
    if not attrs.get("standin"):
        return ""
    if attrs.get("standin_layers"):
        return "AlphaEarth stand-in built from coarse raster layers, not real AlphaEarth"
    return "AlphaEarth stand-in built from OSM physical layers, not real AlphaEarth"


def map_figure_size(grid: Grid, *, width: float = 6.0) -> tuple[float, float]:
    """Return a figure size in inches that fits the grid's aspect ratio plus a colour bar."""
    aspect = grid.height / max(grid.width, 1)
    return width, min(max(3.0, width * aspect * 0.85 + 0.8), 14.0)


def save_figure(figure: Figure, path: str | Path) -> None:
    with atomic_output(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")


def plot_training_history(history: pd.DataFrame, path: str | Path) -> None:
    """Plot the per-epoch losses and the in-batch top-1 accuracy."""
    figure = Figure(figsize=(9, 3.6), layout="constrained")
    losses, accuracy = figure.subplots(1, 2)
    for column, label in [("loss", "total"), ("ae_ae_loss", "AE-AE"), ("ae_poi_loss", "AE-POI")]:
        losses.plot(history["epoch"], history[column], label=label)
    losses.set_xlabel("epoch")
    losses.set_ylabel("InfoNCE loss")
    losses.legend()
    accuracy.plot(history["epoch"], history["top1_ae_to_text"], color="tab:green")
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("in-batch top-1, AE -> text")
    accuracy.set_ylim(0, 1)
    save_figure(figure, path)


def principal_components_rgb(values: np.ndarray, *, seed: int = 0, sample: int = 50_000) -> np.ndarray:
    """Map a ``(bands, H, W)`` raster to ``(H, W, 3)`` colours by its first three principal components.

    The components come from at most ``sample`` valid pixels; colours are
    stretched between the 2nd and 98th percentiles; nodata is transparent.
    """
    bands, height, width = values.shape
    pixels = values.reshape(bands, -1).T
    valid = ~np.isnan(pixels).any(axis=1)
    rgba = np.zeros((height * width, 4), dtype=np.float32)
    if valid.sum() < 3:
        return rgba.reshape(height, width, 4)
    generator = np.random.default_rng(seed)
    index = np.flatnonzero(valid)
    fit = pixels[generator.choice(index, size=min(sample, len(index)), replace=False)]
    mean = fit.mean(axis=0)
    _, _, components = np.linalg.svd(fit - mean, full_matrices=False)
    scores = (pixels[valid] - mean) @ components[:3].T
    low, high = np.percentile(scores, [2, 98], axis=0)
    rgba[valid, :3] = np.clip((scores - low) / np.where(high > low, high - low, 1.0), 0, 1)
    rgba[valid, 3] = 1.0
    return rgba.reshape(height, width, 4)


def plot_raster_preview(values: np.ndarray, grid: Grid, path: str | Path, *, title: str, note: str = "") -> None:
    """Show an embedding raster as a false-colour image of its first three principal components."""
    left, bottom, right, top = grid.bounds
    figure = Figure(figsize=map_figure_size(grid), layout="constrained")
    axes = figure.subplots()
    axes.imshow(principal_components_rgb(values), extent=(left, right, bottom, top), interpolation="nearest")
    _finish_map(axes, grid, title, note)
    save_figure(figure, path)


def plot_points(
    points: pd.DataFrame, column: str, grid: Grid, path: str | Path, *, title: str, note: str = "", top: int = 19
) -> None:
    """Scatter points in the grid CRS coloured by a categorical column (the ``top`` values, the rest grey)."""
    left, bottom, right, top_edge = grid.bounds
    figure = Figure(figsize=map_figure_size(grid, width=7.5), layout="constrained")
    axes = figure.subplots()
    frequent = points[column].value_counts().index[:top]
    rest = points[~points[column].isin(frequent)]
    axes.scatter(rest["x"], rest["y"], s=4, color="#bbbbbb", label="other values" if len(rest) else None)
    palette = matplotlib.colormaps["tab20"]
    colours = [palette(i % 20) for i in range(len(frequent))]
    for value, colour in zip(frequent, colours, strict=True):
        subset = points[points[column] == value]
        axes.scatter(subset["x"], subset["y"], s=6, color=colour, label=f"{value} ({len(subset)})")
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top_edge)
    axes.set_aspect("equal")
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _finish_map(axes, grid, title, note)
    save_figure(figure, path)


def _finish_map(axes, grid: Grid, title: str, note: str) -> None:
    axes.set_title(title, fontsize=11)
    axes.set_xlabel(f"x ({grid.crs}, m)" + (f"\n{note}" if note else ""))
    axes.set_ylabel("y (m)")
    axes.ticklabel_format(useOffset=False, style="plain")
    axes.tick_params(labelsize=7)


def plot_store_preview(store_path: str | Path, path: str | Path, *, embedding: str) -> None:
    """Draw the false-colour preview of an embedding store."""
    array = open_embedding(store_path)
    grid = store_grid(array)
    step = max(1, -(-max(grid.width, grid.height) // PREVIEW_PIXELS))
    values = array.isel(y=slice(None, None, step), x=slice(None, None, step)).values
    title = f"{embedding}: first three principal components of {array.sizes['band']} bands"
    if step > 1:
        title += f" (every {step}th pixel)"
    plot_raster_preview(values, grid, path, title=title, note=standin_note(array.attrs))


def plot_point_map(store_path: str | Path, points_path: str | Path, path: str | Path, *, column: str, title: str) -> None:
    """Map points (x, y in the raster CRS) coloured by ``column`` on the raster's extent."""
    grid = store_grid(open_embedding(store_path))
    points = pd.read_parquet(points_path, columns=["x", "y", column])
    plot_points(points, column, grid, path, title=f"{len(points)} {title}")
