from _job import start

start(snakemake)

import torch

from aether.evaluation.heads import HeadConfig
from aether.evaluation.landuse import evaluate_landuse
from aether.io import atomic_output

settings = snakemake.params.evaluation
torch.set_num_threads(snakemake.threads)
metrics = evaluate_landuse(
    snakemake.input.embedding,
    snakemake.input.labels,
    embedding=snakemake.wildcards.embedding,
    radius=settings["point_radius"],
    heads=settings["heads"],
    seeds=settings["seeds"],
    split_seed=settings["split_seed"],
    config=HeadConfig(max_epochs=settings["max_epochs"], patience=settings["patience"]),
)
with atomic_output(snakemake.output[0]) as temporary:
    metrics.to_parquet(temporary, index=False)
