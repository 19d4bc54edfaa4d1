# Stage 5: downstream tasks on raw AlphaEarth, AETHER and baselines.
# One job builds the units of each task, one the features of each (task, embedding)
# and one trains and scores the heads of each (task, embedding) under every protocol.

TRAINING_KEYS = ["protocols", "heads", "seeds", "split_seed", "spatial_blocks", "max_epochs", "patience", "max_units"]


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


rule task_units:
    """Read the labelled units of a configured task and keep those on the embedding raster."""
    input:
        labels=task_label_files,
        alphaearth="results/{city}/alphaearth/alphaearth.zarr",
    output:
        units="results/{city}/evaluation/{task}/units.parquet",
        report="results/{city}/evaluation/{task}/labels.parquet",
    params:
        task=lambda wildcards: TASKS[wildcards.task],
    wildcard_constraints:
        task=LABEL_TASK_NAMES,
    log:
        "results/{city}/logs/task_units_{task}.log",
    benchmark:
        "results/{city}/benchmarks/task_units_{task}.tsv"
    resources:
        mem_mb=memory_mb(1500, 10),
        runtime=15,
    conda:
        ENV
    script:
        "../workflow/scripts/task_units.py"


rule unit_features:
    """Pool one embedding over the units of one task: window or cell means, or POI counts."""
    input:
        unpack(feature_inputs),
    output:
        "results/{city}/evaluation/{task}/features_{features}.parquet",
    params:
        task=lambda wildcards: TASKS[wildcards.task],
        radius=config["evaluation"]["point_radius"],
        poi_column=config["evaluation"]["poi_baseline"]["column"],
    wildcard_constraints:
        task=TASK_NAMES,
        features=FEATURE_NAMES,
    log:
        "results/{city}/logs/unit_features_{task}_{features}.log",
    benchmark:
        "results/{city}/benchmarks/unit_features_{task}_{features}.tsv"
    resources:
        mem_mb=memory_mb(2000, 0.5),
        runtime=60,
    conda:
        ENV
    script:
        "../workflow/scripts/unit_features.py"


rule evaluate_task:
    """Train the heads on one embedding's features for every protocol and seed, and score them on the test part."""
    input:
        units=lambda wildcards: units_path(wildcards.task).format(city=wildcards.city),
        features="results/{city}/evaluation/{task}/features_{features}.parquet",
    output:
        "results/{city}/evaluation/{task}/metrics_{features}.parquet",
    params:
        task=lambda wildcards: TASKS[wildcards.task],
        # Only the settings the heads use, so that adding a task does not rerun the others.
        evaluation={key: config["evaluation"][key] for key in TRAINING_KEYS},
    wildcard_constraints:
        task=TASK_NAMES,
        features=FEATURE_NAMES,
    # Two threads help the 1024-unit MLP; the smaller heads gain little from more.
    threads: 2
    log:
        "results/{city}/logs/evaluate_task_{task}_{features}.log",
    benchmark:
        "results/{city}/benchmarks/evaluate_task_{task}_{features}.tsv"
    resources:
        mem_mb=memory_mb(2000, 4),
        runtime=240,
    conda:
        ENV
    script:
        "../workflow/scripts/evaluate_task.py"


rule evaluation_summary:
    """Summarise every task as mean ± std over seeds, with the change of each embedding against AlphaEarth."""
    input:
        metrics=expand("results/{{city}}/evaluation/{task}/metrics_{features}.parquet", task=TASKS, features=EVALUATED),
        reports=[label_report_path(task) for task in TASKS],
    output:
        table="results/{city}/evaluation/summary.parquet",
        markdown="results/{city}/evaluation/summary.md",
        html=report(
            "results/{city}/evaluation/summary.html",
            caption="../report/summary.rst",
            category="Evaluation",
            labels={"table": "downstream tasks"},
        ),
    params:
        tasks=list(TASKS),
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
