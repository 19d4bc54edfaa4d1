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


if uses_standin():

    rule alphaearth_store:
        """Validate the stand-in GeoTIFF and copy it into the Zarr store, keeping its int8 codes as they are."""
        input:
            "results/{city}/alphaearth/standin.tif",
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

else:

    rule fetch_alphaearth:
        """Read the windows of the mirror's tiles that cover the area, over HTTP range requests, into the cache."""
        output:
            "results/{city}/alphaearth/fetched.json",
        params:
            fetch=config["alphaearth"]["fetch"],
            area=config["alphaearth"].get("area"),
            crs=config["alphaearth"]["crs"],
            resolution=config["alphaearth"]["resolution"],
        log:
            "results/{city}/logs/fetch_alphaearth.log",
        benchmark:
            "results/{city}/benchmarks/fetch_alphaearth.tsv"
        resources:
            mem_mb=1500,
            runtime=120,
        conda:
            ENV
        script:
            "../workflow/scripts/fetch_alphaearth.py"

    rule alphaearth_tile:
        """Fill one tile of the working grid from the files that intersect it, reprojecting where needed."""
        input:
            unpack(tile_inputs),
        output:
            temp(directory("results/{city}/alphaearth/tiles/{tile}.zarr")),
        params:
            plan=tile_params,
            area=config["alphaearth"].get("area"),
            chunk=config["alphaearth"]["chunk"],
        wildcard_constraints:
            tile=r"r\d+c\d+",
        log:
            "results/{city}/logs/alphaearth_tile_{tile}.log",
        benchmark:
            "results/{city}/benchmarks/alphaearth_tile_{tile}.tsv"
        resources:
            mem_mb=1000,
            runtime=30,
        conda:
            ENV
        script:
            "../workflow/scripts/alphaearth_tile.py"

    rule alphaearth_store:
        """Join the tiles into the Zarr store by linking their chunk files."""
        input:
            tiles=expand("results/{{city}}/alphaearth/tiles/{tile}.zarr", tile=TILES),
        output:
            directory("results/{city}/alphaearth/alphaearth.zarr"),
        params:
            grid=grid_to_dict(MOSAIC.grid),
            area=config["alphaearth"].get("area"),
            chunk=config["alphaearth"]["chunk"],
        log:
            "results/{city}/logs/alphaearth_store.log",
        benchmark:
            "results/{city}/benchmarks/alphaearth_store.tsv"
        resources:
            mem_mb=500,
            runtime=10,
        conda:
            ENV
        script:
            "../workflow/scripts/alphaearth_mosaic.py"
