from aether.logs import configure_rule_logging

configure_rule_logging(snakemake.log[0])

from aether.evaluation.report import write_summary

write_summary(
    snakemake.input.metrics,
    snakemake.input.classes,
    table=snakemake.output.table,
    markdown=snakemake.output.markdown,
    html=snakemake.output.html,
)
