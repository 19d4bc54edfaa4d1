from aether.logs import configure_rule_logging

configure_rule_logging(snakemake.log[0])

from aether.figures import plot_store_preview

plot_store_preview(snakemake.input[0], snakemake.output[0], embedding=snakemake.wildcards.embedding)
