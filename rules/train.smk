# Training of the base model (sees every forget candidate) and the reference model
# (never sees one), one job per model and seed.


rule train_model:
    input:
        data=f"{R}/data/bin/{{model}}",
    output:
        checkpoint=f"{R}/models/{{model}}/seed{{seed}}/checkpoint.pt",
        epochs=f"{R}/models/{{model}}/seed{{seed}}/epochs.json",
    params:
        model=config["model"],
        save_dir=lambda wc: f"{R}/models/{wc.model}/seed{wc.seed}/fairseq",
        code=code_hash("jobs:train_model", "training", "fairseq_run", "io"),
    threads: config["model"]["threads"]
    resources:
        gpu=GPU,
    log:
        f"{R}/logs/train_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train_{{model}}_seed{{seed}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/train_model.py"
