from _job import start

start(snakemake)

from aether.raster.standin import StandinSettings, build_standin
from aether.raster.standin_layers import LayerStandinSettings, build_layer_standin

settings = dict(snakemake.params.settings)
if settings.pop("kind") == "layers":
    build_layer_standin(list(snakemake.input), snakemake.output[0], LayerStandinSettings(**settings))
else:
    build_standin(snakemake.input[0], snakemake.output[0], StandinSettings(**settings))
