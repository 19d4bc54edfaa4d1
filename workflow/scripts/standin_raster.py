from aether.logs import configure_rule_logging

configure_rule_logging(snakemake.log[0])

from aether.raster.standin import StandinSettings, build_standin

build_standin(snakemake.input.osm, snakemake.output[0], StandinSettings(**snakemake.params.settings))
