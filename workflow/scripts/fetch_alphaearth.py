from _job import start

start(snakemake)

from aether.raster.fetch import fetch_alphaearth
from aether.raster.mosaic import load_area

settings = snakemake.params.fetch
fetch_alphaearth(
    settings["index"],
    load_area(snakemake.params.area),
    year=settings["year"],
    cache=settings["cache"],
    manifest=snakemake.output[0],
    columns=settings["columns"],
    crs=snakemake.params.crs,
    resolution=snakemake.params.resolution,
)
