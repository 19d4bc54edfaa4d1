from _job import start

start(snakemake)

import torch

from aether.inference import run_inference

torch.set_num_threads(snakemake.threads)
run_inference(snakemake.input.alphaearth, snakemake.input.checkpoint, snakemake.output[0])
