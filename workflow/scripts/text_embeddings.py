from _job import start

start(snakemake)

import torch

from aether.poi.encoding import encode_pois

torch.set_num_threads(snakemake.threads)
encode_pois(
    snakemake.input[0],
    snakemake.output[0],
    model=snakemake.params.model,
    device=snakemake.params.device,
    batch_size=snakemake.params.batch_size,
    cache_dir=snakemake.params.cache_dir,
    offline=snakemake.params.offline,
)
