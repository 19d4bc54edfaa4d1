# Stage 3: pooled AlphaEarth views around every POI and the contrastive training.


rule views:
    """Pool the base and augmented AlphaEarth views around every POI."""
    input:
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
        pois="results/{city}/pois/pois.parquet",
    output:
        "results/{city}/training/views.parquet",
    params:
        base_radius=config["views"]["base_radius"],
        augmented_radius=config["views"]["augmented_radius"],
    log:
        "results/{city}/logs/views.log",
    benchmark:
        "results/{city}/benchmarks/views.tsv"
    resources:
        mem_mb=memory_mb(1500),
        runtime=30,
    conda:
        ENV
    script:
        "../workflow/scripts/views.py"


rule train:
    """Train the AE and text projectors with the AE-AE and AE-POI InfoNCE losses."""
    input:
        views="results/{city}/training/views.parquet",
        text="results/{city}/pois/text_embeddings.parquet",
    output:
        checkpoint="results/{city}/training/checkpoint.pt",
        history="results/{city}/training/history.parquet",
    params:
        training=config["training"],
    threads: 4
    log:
        "results/{city}/logs/train.log",
    benchmark:
        "results/{city}/benchmarks/train.tsv"
    resources:
        mem_mb=memory_mb(2000, 3),
        runtime=120,
        gpu=1 if config["training"]["device"].startswith("cuda") else 0,
    conda:
        ENV
    script:
        "../workflow/scripts/train.py"
