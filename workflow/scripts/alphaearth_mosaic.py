from _job import start

start(snakemake)

from aether.raster.mosaic import assemble_tiles, grid_from_dict, load_area

assemble_tiles(
    snakemake.input.tiles,
    grid_from_dict(snakemake.params.grid),
    snakemake.output[0],
    chunk=snakemake.params.chunk,
    attrs={"kind": "alphaearth"},
    area=load_area(snakemake.params.area),
)
