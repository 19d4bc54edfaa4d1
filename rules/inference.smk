# Stage 4: the trained AE projector applied to every pixel.


rule aether_store:
    """Project every AlphaEarth pixel into the 128-d AETHER space."""
    input:
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
        checkpoint="results/{city}/training/checkpoint.pt",
    output:
        directory("results/{city}/aether/aether.zarr"),
    threads: 4
    log:
        "results/{city}/logs/aether_store.log",
    benchmark:
        "results/{city}/benchmarks/aether_store.tsv"
    resources:
        mem_mb=memory_mb(2000),
        runtime=lambda wildcards, input: 10 + int(input_mb(input) / 50),
    conda:
        ENV
    script:
        "../workflow/scripts/aether_store.py"


rule aether_cog:
    """Export the AETHER raster as a float32 Cloud-Optimised GeoTIFF."""
    input:
        "results/{city}/aether/aether.zarr",
    output:
        "results/{city}/aether/aether.tif",
    log:
        "results/{city}/logs/aether_cog.log",
    benchmark:
        "results/{city}/benchmarks/aether_cog.tsv"
    resources:
        mem_mb=memory_mb(1500),
        runtime=lambda wildcards, input: 10 + int(input_mb(input) / 50),
    conda:
        ENV
    script:
        "../workflow/scripts/aether_cog.py"
