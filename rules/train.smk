# Training of the base model (sees every forget candidate) and the reference model
# (never sees one), one job per model and seed.


rule train_model:
    input:
        data=f"{R}/data/bin/{{model}}",
    output:
        checkpoint=f"{R}/models/{{model}}/seed{{seed}}/checkpoint.pt",
        epochs=f"{R}/models/{{model}}/seed{{seed}}/epochs.json",
    log:
        f"{R}/logs/train_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/train_{{model}}_seed{{seed}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        hyper=MODEL_HYPERPARAMETERS,
        code=code("train_model.py"),
    script:
        "../workflow_scripts/train_model.py"
