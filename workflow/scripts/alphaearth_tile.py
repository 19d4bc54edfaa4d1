from _job import start

start(snakemake)

from aether.raster.fetch import read_manifest
from aether.raster.mosaic import SourceFile, grid_from_dict, load_area, write_tile
from aether.raster.store import Block, INT8_ENCODING

plan = snakemake.params.plan
if "manifest" in snakemake.input.keys():
    # Windows fetched from a public mirror hold int8 codes.
    sources = [SourceFile(path, INT8_ENCODING) for path in read_manifest(snakemake.input.manifest)]
else:
    sources = [SourceFile(path, encoding) for path, encoding in plan["sources"]]

write_tile(
    sources,
    grid_from_dict(plan["grid"]),
    Block(*plan["block"]),
    snakemake.output[0],
    chunk=snakemake.params.chunk,
    area=load_area(snakemake.params.area),
    encoding=plan["encoding"],
)
