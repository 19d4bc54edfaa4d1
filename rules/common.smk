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
    # Remote files (/vsicurl/...) are read by GDAL, not tracked by Snakemake.
    return {"files": [source.path for source in MOSAIC.tile_sources(wildcards.tile) if not source.path.startswith("/vsi")]}


def tile_params(wildcards):
    tile = MOSAIC.tile(wildcards.tile)
    sources = [[source.path, source.encoding] for source in MOSAIC.tile_sources(wildcards.tile)]
    return {
        "grid": grid_to_dict(MOSAIC.grid),
        "block": [tile.block.row, tile.block.col, tile.block.height, tile.block.width],
        "sources": sources,
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
    if config["evaluation"]["landuse"]["source"] != "none":
        outputs += [
            f"{results}/evaluation/summary.md",
            f"{results}/evaluation/summary.html",
            f"{results}/figures/landuse_labels.png",
        ]
    if config["inference"]["cog"]:
        outputs.append(f"{results}/aether/aether.tif")
    return outputs
