from _job import start

start(snakemake)

from aether.inference import export_cog
from aether.raster.store import open_embedding

export_cog(open_embedding(snakemake.input[0]), snakemake.output[0])
