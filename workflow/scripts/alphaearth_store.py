from _job import start

start(snakemake)

from aether.raster.ingest import ingest_raster

ingest_raster(
    snakemake.input[0],
    snakemake.output[0],
    encoding=snakemake.params.encoding,
    chunk=snakemake.params.chunk,
)
