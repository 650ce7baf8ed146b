# Unlearning each forget set with each method, then the study's summary.


rule unlearn:
    input:
        checkpoint=f"{R}/models/base/seed{SEEDS[0]}/checkpoint.pt",
        data=f"{R}/data/bin/base",
        spm=rules.train_subword.output.model,
        table=rules.example_table.output.table,
        forget=f"{R}/forget_sets/{{forget_set}}.parquet",
        neighbours=rules.find_neighbours.output[0],
        test=rules.prepare_corpus.output.test,
        retained=rules.select_id_sets.output.retained,
    output:
        examples=f"{R}/unlearning/{{method}}/{{forget_set}}/examples.parquet",
        steps=f"{R}/unlearning/{{method}}/{{forget_set}}/steps.parquet",
        status=f"{R}/unlearning/{{method}}/{{forget_set}}/status.json",
    params:
        unlearning=config["unlearning"],
        max_tokens=config["scoring"]["max_tokens"],
        device=config["model"]["device"],
        code=code_hash("jobs:unlearn", "jobs:_encode", "unlearning", "scoring", "metrics", "io"),
    threads: config["model"]["threads"]
    resources:
        gpu=1,
    log:
        f"{R}/logs/unlearn_{{method}}_{{forget_set}}.log",
    benchmark:
        f"{R}/benchmarks/unlearn_{{method}}_{{forget_set}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/unlearn.py"
