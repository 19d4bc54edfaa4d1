# Stage 5: land-use classification of raw AlphaEarth against AETHER.


rule landuse_labels:
    """Sample land-use labels onto the raster grid, from OSM polygons or a table of labelled points."""
    input:
        labels=landuse_label_source(),
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
    output:
        points="results/{city}/evaluation/landuse_points.parquet",
        classes="results/{city}/evaluation/landuse_classes.parquet",
    params:
        landuse=config["evaluation"]["landuse"],
    log:
        "results/{city}/logs/landuse_labels.log",
    benchmark:
        "results/{city}/benchmarks/landuse_labels.tsv"
    resources:
        mem_mb=memory_mb(1500, 10),
        runtime=15,
    conda:
        ENV
    script:
        "../workflow/scripts/landuse_labels.py"


rule evaluate_landuse:
    """Train linear and MLP heads on one embedding over all seeds and score them on the test split."""
    input:
        embedding="results/{city}/{embedding}/{embedding}.zarr",
        labels="results/{city}/evaluation/landuse_points.parquet",
    output:
        "results/{city}/evaluation/landuse_{embedding}.parquet",
    params:
        evaluation=config["evaluation"],
    # The heads are so small that one thread per job is fastest.
    threads: 1
    log:
        "results/{city}/logs/evaluate_landuse_{embedding}.log",
    benchmark:
        "results/{city}/benchmarks/evaluate_landuse_{embedding}.tsv"
    resources:
        mem_mb=memory_mb(2000),
        runtime=60,
    conda:
        ENV
    script:
        "../workflow/scripts/evaluate_landuse.py"


rule evaluation_summary:
    """Summarise the metrics as mean ± std over seeds, with the change of AETHER against AlphaEarth."""
    input:
        metrics=expand("results/{{city}}/evaluation/landuse_{embedding}.parquet", embedding=EMBEDDINGS),
        classes="results/{city}/evaluation/landuse_classes.parquet",
    output:
        table="results/{city}/evaluation/summary.parquet",
        markdown="results/{city}/evaluation/summary.md",
        html=report(
            "results/{city}/evaluation/summary.html",
            caption="../report/summary.rst",
            category="Evaluation",
            labels={"table": "land-use classification"},
        ),
    log:
        "results/{city}/logs/evaluation_summary.log",
    benchmark:
        "results/{city}/benchmarks/evaluation_summary.tsv"
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        ENV
    script:
        "../workflow/scripts/evaluation_summary.py"
