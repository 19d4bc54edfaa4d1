from _job import start

start(snakemake)

import pandas as pd

from aether.raster.store import open_embedding
from aether.training.views import sample_views

sample_views(
    open_embedding(snakemake.input.alphaearth),
    pd.read_parquet(snakemake.input.pois, columns=["poi_id", "x", "y"]),
    snakemake.output[0],
    base_radius=snakemake.params.base_radius,
    augmented_radius=snakemake.params.augmented_radius,
)
