# Stage 2: POI descriptions and their text embeddings.


rule pois:
    """Read the POI sources in DuckDB, map tags to (class, category) and synthesise descriptions."""
    input:
        sources=poi_source_paths(),
        categories=poi_category_tables(),
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
    output:
        "results/{city}/pois/pois.parquet",
    params:
        sources=config["pois"]["sources"],
        text=config["pois"]["text"],
        deduplicate_distance=config["pois"]["deduplicate_distance"],
    log:
        "results/{city}/logs/pois.log",
    benchmark:
        "results/{city}/benchmarks/pois.tsv"
    resources:
        mem_mb=memory_mb(1500, 20),
        runtime=15,
    conda:
        ENV
    script:
        "../workflow/scripts/pois.py"


rule text_embeddings:
    """Encode every POI description with the sentence model, reusing cached embeddings."""
    input:
        "results/{city}/pois/pois.parquet",
    output:
        "results/{city}/pois/text_embeddings.parquet",
    params:
        model=config["text_encoder"]["model"],
        model_identity=lambda wildcards: text_model_identity(),
        device=config["text_encoder"]["device"],
        batch_size=config["text_encoder"]["batch_size"],
        offline=config["text_encoder"]["offline"],
        cache_dir=config["text_encoder"]["cache_dir"],
    threads: 4
    log:
        "results/{city}/logs/text_embeddings.log",
    benchmark:
        "results/{city}/benchmarks/text_embeddings.tsv"
    resources:
        mem_mb=memory_mb(3000, 50),
        runtime=60,
    conda:
        ENV
    script:
        "../workflow/scripts/text_embeddings.py"
