# Stage 6: figures for the HTML report (snakemake --report results/report.html).


rule training_curve:
    """Plot the per-epoch training losses."""
    input:
        "results/{city}/training/history.parquet",
    output:
        report(
            "results/{city}/figures/training_curve.png",
            caption="../report/training_curve.rst",
            category="Training",
        ),
    log:
        "results/{city}/logs/training_curve.log",
    benchmark:
        "results/{city}/benchmarks/training_curve.tsv"
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        ENV
    script:
        "../workflow/scripts/training_curve.py"


rule raster_preview:
    """Draw an embedding raster in false colour from its first three principal components."""
    input:
        "results/{city}/{embedding}/{embedding}.zarr",
    output:
        report(
            "results/{city}/figures/{embedding}_preview.png",
            caption="../report/raster_preview.rst",
            category="Rasters",
            labels={"embedding": "{embedding}"},
        ),
    log:
        "results/{city}/logs/raster_preview_{embedding}.log",
    benchmark:
        "results/{city}/benchmarks/raster_preview_{embedding}.tsv"
    resources:
        mem_mb=memory_mb(1000, 4),
        runtime=10,
    conda:
        ENV
    script:
        "../workflow/scripts/raster_preview.py"


rule point_maps:
    """Map the POIs by category and the land-use label points by class."""
    input:
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
        pois="results/{city}/pois/pois.parquet",
        labels="results/{city}/evaluation/landuse_points.parquet",
    output:
        pois=report(
            "results/{city}/figures/pois.png", caption="../report/pois.rst", category="Inputs"
        ),
        labels=report(
            "results/{city}/figures/landuse_labels.png", caption="../report/labels.rst", category="Inputs"
        ),
    log:
        "results/{city}/logs/point_maps.log",
    benchmark:
        "results/{city}/benchmarks/point_maps.tsv"
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../workflow/scripts/point_maps.py"
