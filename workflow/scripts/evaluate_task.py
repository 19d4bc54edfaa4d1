from _job import start

start(snakemake)

import torch

from aether.evaluation.heads import HeadConfig
from aether.evaluation.pipeline import evaluate_features
from aether.io import atomic_output

settings = snakemake.params.evaluation
task = snakemake.params.task
torch.set_num_threads(snakemake.threads)
metrics = evaluate_features(
    snakemake.input.units,
    snakemake.input.features,
    task=task["name"],
    task_type=task["type"],
    columns=task["columns"],
    embedding=snakemake.wildcards.features,
    protocols=settings["protocols"],
    heads=settings["heads"],
    seeds=settings["seeds"],
    split_seed=settings["split_seed"],
    blocks=settings["spatial_blocks"],
    transform=task["transform"],
    config=HeadConfig(max_epochs=settings["max_epochs"], patience=settings["patience"]),
    max_units=settings["max_units"],
)
with atomic_output(snakemake.output[0]) as temporary:
    metrics.to_parquet(temporary, index=False)
