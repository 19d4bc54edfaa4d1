from _job import start

start(snakemake)

from aether.evaluation.pipeline import (
    baseline_features,
    joined_features,
    raster_features,
    read_units,
    write_features,
)
from aether.raster.store import open_embedding, store_grid

kind = snakemake.wildcards.features
task = snakemake.params.task
cells = snakemake.input.get("cells")
units = read_units(snakemake.input.units)
columns = []
if kind == "alphaearth_poi":
    _, features, standin = joined_features(snakemake.input.parts)
elif kind == "poi_counts":
    features, columns = baseline_features(
        snakemake.input.pois,
        snakemake.input.grid,
        units,
        units_kind=task["units"],
        cells_path=cells,
        radius=snakemake.params.radius,
        column=snakemake.params.poi_column,
    )
    standin = False
else:
    # Units lie in the AlphaEarth store's CRS; an extra store must share it.
    grid = snakemake.input.get("grid")
    features, standin = raster_features(
        snakemake.input.embedding,
        units,
        units_kind=task["units"],
        cells_path=cells,
        radius=snakemake.params.radius,
        units_crs=store_grid(open_embedding(grid)).crs if grid else None,
    )
write_features(snakemake.output[0], units, features, embedding=kind, standin=standin, columns=columns)
