from aether.logs import configure_rule_logging

configure_rule_logging(snakemake.log[0])

from aether.inference import export_cog
from aether.raster.store import open_embedding

export_cog(open_embedding(snakemake.input[0]), snakemake.output[0])
