# Stage 1: the AlphaEarth raster as a chunked, georeferenced Zarr store.


rule standin_raster:
    """Build an AlphaEarth-format int8 stand-in from OSM physical layers or from coarse raster layers."""
    input:
        standin_inputs(),
    output:
        "results/{city}/alphaearth/standin.tif",
    params:
        settings=standin_settings(),
    log:
        "results/{city}/logs/standin_raster.log",
    benchmark:
        "results/{city}/benchmarks/standin_raster.tsv"
    resources:
        mem_mb=memory_mb(2000, 200),
        runtime=60,
    conda:
        ENV
    script:
        "../workflow/scripts/standin_raster.py"


rule alphaearth_store:
    """Validate the AlphaEarth GeoTIFF and copy it into the Zarr store, keeping int8 codes as they are."""
    input:
        alphaearth_source,
    output:
        directory("results/{city}/alphaearth/alphaearth.zarr"),
    params:
        encoding=config["alphaearth"]["encoding"],
        chunk=config["alphaearth"]["chunk"],
    log:
        "results/{city}/logs/alphaearth_store.log",
    benchmark:
        "results/{city}/benchmarks/alphaearth_store.tsv"
    resources:
        mem_mb=memory_mb(1000),
        runtime=lambda wildcards, input: 10 + int(input_mb(input) / 100),
    conda:
        ENV
    script:
        "../workflow/scripts/alphaearth_store.py"
