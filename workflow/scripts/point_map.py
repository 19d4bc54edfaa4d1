from _job import start

start(snakemake)

from aether.figures import plot_point_map

plot_point_map(
    snakemake.input.alphaearth,
    snakemake.input.points,
    snakemake.output[0],
    column=snakemake.params.column,
    title=snakemake.params.title,
)
