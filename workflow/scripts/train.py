from _job import start

start(snakemake)

import torch

from aether.training.train import run_training

torch.set_num_threads(snakemake.threads)
run_training(
    snakemake.input.views,
    snakemake.input.text,
    checkpoint=snakemake.output.checkpoint,
    history=snakemake.output.history,
    settings=snakemake.params.training,
)
