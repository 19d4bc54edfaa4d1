"""AETHER: AlphaEarth-POI enriched representation learning, as a Snakemake workflow.

Run `snakemake --cores 8` for the embedded Helsinki default, or pass
`--configfile` with your own areas, rasters and POIs. See README.md.
"""

from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default configuration. A --configfile replaces it
# instead of being merged into it, so that the Helsinki queries and sources
# never leak into another city's run. rules/common.smk validates the
# configuration, and keys left out take the schema defaults.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    city=CITY,
    embedding="|".join(EMBEDDINGS),
    query="[A-Za-z0-9_-]+",


include: "rules/raster.smk"
include: "rules/poi.smk"
include: "rules/training.smk"
include: "rules/inference.smk"
include: "rules/evaluation.smk"
include: "rules/retrieval.smk"
include: "rules/figures.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
