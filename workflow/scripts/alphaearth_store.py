from aether.logs import configure_rule_logging

configure_rule_logging(snakemake.log[0])

from aether.raster.ingest import ingest_raster

ingest_raster(
    snakemake.input[0],
    snakemake.output[0],
    encoding=snakemake.params.encoding,
    chunk=snakemake.params.chunk,
)
