from _job import start

start(snakemake)

from aether.evaluation.labels import check_not_standin_input
from aether.evaluation.spec import TaskSpec
from aether.evaluation.units import build_units, write_units
from aether.raster.store import open_embedding, pixel_validity, store_grid

task = TaskSpec(**{**snakemake.params.task, "columns": tuple(snakemake.params.task["columns"])})
alphaearth = open_embedding(snakemake.input.alphaearth)
check_not_standin_input(task.label_files, alphaearth.attrs.get("standin_layers", []), task=task.name)
units, report = build_units(task, store_grid(alphaearth), pixel_validity(alphaearth))
write_units(units, report, snakemake.output.units, snakemake.output.report)
