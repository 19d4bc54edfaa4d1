# Helpers shared by the other .smk files, with paths, parameters and resource estimates.
# Rules hold no logic of their own; they call scripts that call the package.

import functools
import sys
from pathlib import Path

from snakemake.utils import validate

# The Snakefile imports the package of this checkout (job scripts do the same
# through workflow/scripts/_job.py), whether or not it is installed.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from aether.config import check_config
from aether.exceptions import ConfigError
from aether.paths import resolve_path
from aether.raster.mosaic import grid_to_dict, plan_mosaic

SCHEMA = str(Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
check_config(config, SCHEMA, source=", ".join(map(str, workflow.overwrite_configfiles)) or "config.yaml")
# Snakemake's validation fills in the defaults of the schema.
validate(config, SCHEMA)

CITY = config["city"]
ENV = "../envs/aether.yaml"
EMBEDDINGS = ["alphaearth", "aether"]


def uses_standin():
    """True when no AlphaEarth file is configured or fetched, and the stand-in is built instead."""
    return not config["alphaearth"]["files"] and not config["alphaearth"]["fetch"]["enabled"]


# The working grid and its tiles come from the configuration and the file
# headers, so the tile jobs are known when the DAG is built. Planning also
# checks every file before any job runs: a failing job would first make
# Snakemake delete the store that an earlier run left in place.
MOSAIC = None if uses_standin() else plan_mosaic(config["alphaearth"])
TILES = [] if MOSAIC is None else [tile.name for tile in MOSAIC.tiles]


def standin_inputs():
    """The files the stand-in is built from: raster layers when configured, else the OSM extract."""
    standin = config["alphaearth"]["standin"]
    if standin["layers"]:
        return [str(resolve_path(path)) for path in standin["layers"]]
    return [str(resolve_path(standin["osm"]))]


def standin_settings():
    standin = config["alphaearth"]["standin"]
    return {"kind": "layers" if standin["layers"] else "osm", "resolution": standin["resolution"], "seed": standin["seed"]}


def tile_inputs(wildcards):
    """The files a tile job reads: the configured files that intersect it, or the manifest of fetched windows."""
    if config["alphaearth"]["fetch"]["enabled"]:
        return {"manifest": f"results/{wildcards.city}/alphaearth/fetched.json"}
    # Remote files are read by GDAL over HTTP, not tracked by Snakemake.
    return {"files": [source.path for source in MOSAIC.tile_sources(wildcards.tile) if not source.is_remote]}


def tile_params(wildcards):
    tile = MOSAIC.tile(wildcards.tile)
    sources = [[source.path, source.encoding] for source in MOSAIC.tile_sources(wildcards.tile)]
    return {
        "grid": grid_to_dict(MOSAIC.grid),
        "block": [tile.block.row, tile.block.col, tile.block.height, tile.block.width],
        "sources": sources,
        "encoding": MOSAIC.encoding,
    }


def poi_source_paths():
    return [str(resolve_path(source["path"])) for source in config["pois"]["sources"]]


def poi_category_tables():
    """The category tables the POI sources use, so that editing a table reruns the POI rule."""
    from aether.poi.sources import SourceSpec

    specs = [SourceSpec.from_config(source) for source in config["pois"]["sources"]]
    return sorted({str(resolve_path(spec.categories)) for spec in specs if spec.categories})


@functools.cache
def text_model_identity():
    """Digest of the sentence model; a new model reruns the rules that use it."""
    from aether.poi.encoding import model_identity

    return model_identity(config["text_encoder"]["model"])


def landuse_label_source():
    """The file the land-use labels come from, or nothing when the task is off."""
    landuse = config["evaluation"]["landuse"]
    if landuse["source"] == "points":
        if "points" not in landuse:
            raise ConfigError("evaluation.landuse.source is points, but evaluation.landuse.points is not set.")
        return [str(resolve_path(landuse["points"]))]
    return [str(resolve_path(landuse["osm"]))]


def evaluation_tasks():
    """Task name to its settings: land use first (when on), then the entries of evaluation.tasks.

    The tasks are checked here, before any job runs: a task whose labels come
    from a layer of the stand-in would measure the stand-in's own input.
    """
    from aether.evaluation.labels import check_not_standin_input
    from aether.evaluation.spec import TaskSpec

    tasks = {}
    if config["evaluation"]["landuse"]["source"] != "none":
        tasks["landuse"] = {"name": "landuse", "type": "classification", "columns": ["label"], "units": "point",
                            "transform": "none", "cells": None}
    for entry in config["evaluation"]["tasks"]:
        spec = TaskSpec.from_config(entry)
        if spec.name in tasks:
            raise ConfigError(f"evaluation.tasks: two tasks are named {spec.name!r}; give each task its own name.")
        settings = dict(vars(spec), columns=list(spec.columns), labels=str(resolve_path(spec.labels)),
                        cells=str(resolve_path(spec.cells)) if spec.cells else None)
        if uses_standin() and config["alphaearth"]["standin"]["layers"]:
            check_not_standin_input([settings["labels"], settings["cells"] or settings["labels"]],
                                    standin_inputs(), task=spec.name)
        tasks[spec.name] = settings
    return tasks


TASKS = evaluation_tasks()
# Embeddings compared in the evaluation: the configured ones plus extra stores.
EVALUATED = list(config["evaluation"]["embeddings"]) + list(config["evaluation"]["extra_embeddings"])
# Wildcard patterns; "(?!)" matches nothing when a list is empty.
TASK_NAMES = "|".join(TASKS) or "(?!)"
LABEL_TASK_NAMES = "|".join(name for name in TASKS if name != "landuse") or "(?!)"
FEATURE_NAMES = "|".join(sorted(set(EVALUATED) | {"alphaearth", "poi_counts"}, key=len, reverse=True))


def units_path(task):
    """The units table of a task; land use keeps its label points table."""
    if task == "landuse":
        return "results/{city}/evaluation/landuse_points.parquet"
    return f"results/{{city}}/evaluation/{task}/units.parquet"


def label_report_path(task):
    if task == "landuse":
        return "results/{city}/evaluation/landuse_classes.parquet"
    return f"results/{{city}}/evaluation/{task}/labels.parquet"


def task_label_files(wildcards):
    task = TASKS[wildcards.task]
    return [task["labels"]] + ([task["cells"]] if task["cells"] else [])


def feature_inputs(wildcards):
    """What the features of one embedding on one task are computed from."""
    task = TASKS[wildcards.task]
    units = units_path(wildcards.task).format(city=wildcards.city)
    inputs = {"units": units}
    if task["cells"]:
        inputs["cells"] = task["cells"]
    kind = wildcards.features
    if kind in ("alphaearth", "aether"):
        inputs["embedding"] = f"results/{wildcards.city}/{kind}/{kind}.zarr"
    elif kind == "poi_counts":
        inputs["pois"] = f"results/{wildcards.city}/pois/pois.parquet"
        inputs["grid"] = f"results/{wildcards.city}/alphaearth/alphaearth.zarr"
    elif kind == "alphaearth_poi":
        inputs["parts"] = [f"results/{wildcards.city}/evaluation/{wildcards.task}/features_{part}.parquet"
                           for part in ("alphaearth", "poi_counts")]
    else:
        inputs["embedding"] = str(resolve_path(config["evaluation"]["extra_embeddings"][kind]))
        inputs["grid"] = f"results/{wildcards.city}/alphaearth/alphaearth.zarr"
    return inputs


def input_mb(input_files):
    """Total size of the inputs in MB, counting the files inside directories such as Zarr stores."""
    total = 0
    for path in map(Path, input_files):
        if path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        elif path.exists():
            total += path.stat().st_size
    return total / 1e6


def memory_mb(base, factor=0.0):
    """Memory estimate: ``base`` MB plus ``factor`` times the size of the inputs."""
    return lambda wildcards, input: int(base + factor * input_mb(input))


def final_outputs():
    results = f"results/{CITY}"
    outputs = [
        f"{results}/figures/training_curve.png",
        f"{results}/figures/pois.png",
        *expand(f"{results}/figures/{{embedding}}_preview.png", embedding=EMBEDDINGS),
        *expand(f"{results}/retrieval/{{query}}.png", query=config["retrieval"]["queries"]),
    ]
    if TASKS:
        outputs += [f"{results}/evaluation/summary.md", f"{results}/evaluation/summary.html"]
    if "landuse" in TASKS:
        outputs.append(f"{results}/figures/landuse_labels.png")
    if config["inference"]["cog"]:
        outputs.append(f"{results}/aether/aether.tif")
    return outputs
