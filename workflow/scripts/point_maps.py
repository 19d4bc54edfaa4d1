from _job import start

start(snakemake)

from aether.figures import plot_point_maps

plot_point_maps(
    snakemake.input.alphaearth,
    snakemake.input.pois,
    snakemake.input.labels,
    pois_figure=snakemake.output.pois,
    labels_figure=snakemake.output.labels,
)
