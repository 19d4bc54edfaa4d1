from aether.logs import configure_rule_logging

configure_rule_logging(snakemake.log[0])

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
