from _job import start

start(snakemake)

from aether.retrieval import encode_queries

encode_queries(
    snakemake.params.queries,
    snakemake.output[0],
    model=snakemake.params.model,
    device=snakemake.params.device,
    offline=snakemake.params.offline,
)
