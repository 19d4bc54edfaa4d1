from _job import start

start(snakemake)

from aether.retrieval import run_query

run_query(
    snakemake.input.aether,
    snakemake.input.checkpoint,
    snakemake.input.pois,
    snakemake.input.queries,
    name=snakemake.wildcards.query,
    top_k=snakemake.params.top_k,
    min_separation=snakemake.params.min_separation,
    raster=snakemake.output.raster,
    places=snakemake.output.places,
    figure=snakemake.output.figure,
)
