# Stage 5b: natural-language queries answered with similarity maps.


rule query_embedding:
    """Encode one query with the same sentence model as the POI descriptions."""
    output:
        "results/{city}/retrieval/{query}_query.parquet",
    params:
        queries=lambda wildcards: {wildcards.query: config["retrieval"]["queries"][wildcards.query]},
        model=config["text_encoder"]["model"],
        model_identity=lambda wildcards: text_model_identity(),
        device=config["text_encoder"]["device"],
        offline=config["text_encoder"]["offline"],
    log:
        "results/{city}/logs/query_embedding_{query}.log",
    benchmark:
        "results/{city}/benchmarks/query_embedding_{query}.tsv"
    resources:
        mem_mb=2500,
        runtime=15,
    conda:
        ENV
    script:
        "../workflow/scripts/query_embedding.py"


rule retrieval:
    """Score one query against every AETHER pixel; write the map, the raster and the top places."""
    input:
        aether="results/{city}/aether/aether.zarr",
        checkpoint="results/{city}/training/checkpoint.pt",
        pois="results/{city}/pois/pois.parquet",
        queries="results/{city}/retrieval/{query}_query.parquet",
    output:
        raster="results/{city}/retrieval/{query}.tif",
        places="results/{city}/retrieval/{query}_top.parquet",
        figure=report(
            "results/{city}/retrieval/{query}.png",
            caption="../report/retrieval.rst",
            category="Retrieval",
            labels={"query": "{query}"},
        ),
    params:
        top_k=config["retrieval"]["top_k"],
        min_separation=config["retrieval"]["min_separation"],
    log:
        "results/{city}/logs/retrieval_{query}.log",
    benchmark:
        "results/{city}/benchmarks/retrieval_{query}.tsv"
    resources:
        mem_mb=memory_mb(1500, 2),
        runtime=15,
    conda:
        ENV
    script:
        "../workflow/scripts/retrieval.py"
