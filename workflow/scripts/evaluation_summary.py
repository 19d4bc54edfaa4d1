from _job import start

start(snakemake)

from aether.evaluation.report import write_summary

write_summary(
    snakemake.input.metrics,
    dict(zip(snakemake.params.tasks, snakemake.input.reports)),
    table=snakemake.output.table,
    markdown=snakemake.output.markdown,
    html=snakemake.output.html,
)
