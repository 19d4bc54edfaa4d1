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


rule poi_map:
    """Map the POIs by category."""
    input:
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
        points="results/{city}/pois/pois.parquet",
    output:
        report("results/{city}/figures/pois.png", caption="../report/pois.rst", category="Inputs"),
    params:
        column="category",
        title="POIs by category",
    log:
        "results/{city}/logs/poi_map.log",
    benchmark:
        "results/{city}/benchmarks/poi_map.tsv"
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../workflow/scripts/point_map.py"


rule label_map:
    """Map the land-use label points by class."""
    input:
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
        points="results/{city}/evaluation/landuse_points.parquet",
    output:
        report("results/{city}/figures/landuse_labels.png", caption="../report/labels.rst", category="Inputs"),
    params:
        column="label",
        title="land-use label points by class",
    log:
        "results/{city}/logs/label_map.log",
    benchmark:
        "results/{city}/benchmarks/label_map.tsv"
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../workflow/scripts/point_map.py"
