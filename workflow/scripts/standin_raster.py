from _job import start

start(snakemake)

from aether.raster.standin import StandinSettings, build_standin

build_standin(snakemake.input.osm, snakemake.output[0], StandinSettings(**snakemake.params.settings))
