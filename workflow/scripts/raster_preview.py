from _job import start

start(snakemake)

from aether.figures import plot_store_preview

plot_store_preview(snakemake.input[0], snakemake.output[0], embedding=snakemake.wildcards.embedding)
