from _job import start

start(snakemake)

from aether.poi.synthesis import SourceSpec, TextSpec, synthesise_pois
from aether.raster.store import open_embedding, pixel_validity, store_grid

alphaearth = open_embedding(snakemake.input.alphaearth)
synthesise_pois(
    [SourceSpec.from_config(entry) for entry in snakemake.params.sources],
    snakemake.output[0],
    grid=store_grid(alphaearth),
    is_valid=pixel_validity(alphaearth),
    text=TextSpec(**snakemake.params.text),
    deduplicate_distance=snakemake.params.deduplicate_distance,
)
