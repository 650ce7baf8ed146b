# Per-example scores, forget sets and neighbours (METHOD.md, Scores; Forget sets).


rule example_pool:
    input:
        candidates=rules.select_id_sets.output.candidates,
        population=rules.select_id_sets.output.population,
        canaries=rules.make_canaries.output.canaries,
        canary_population=rules.make_canaries.output.population,
        test=rules.prepare_corpus.output.test,
        spm=rules.train_subword.output.model,
    output:
        f"{R}/scores/pool.parquet",
    params:
        test_sample=config["scoring"]["test_sample"],
        seed=config["scoring"]["seed"],
        code=code_hash("jobs:example_pool", "examples", "subword", "io"),
    log:
        f"{R}/logs/example_pool.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/example_pool.py"


rule score_model:
    input:
        pool=rules.example_pool.output[0],
        checkpoint=rules.train_model.output.checkpoint,
        data=f"{R}/data/bin/{{model}}",
    output:
        f"{R}/scores/{{model}}_seed{{seed}}.parquet",
    params:
        max_tokens=config["scoring"]["max_tokens"],
        device=config["model"]["device"],
        code=code_hash("jobs:score_model", "scoring", "io"),
    threads: config["model"]["threads"]
    resources:
        gpu=GPU,
    log:
        f"{R}/logs/score_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/score_{{model}}_seed{{seed}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/score_model.py"


rule example_table:
    input:
        pool=rules.example_pool.output[0],
        base=expand(f"{R}/scores/base_seed{{seed}}.parquet", seed=SEEDS),
        reference=expand(f"{R}/scores/reference_seed{{seed}}.parquet", seed=SEEDS),
    output:
        table=f"{R}/scores/examples.parquet",
        mem_vs_diff=report(
            f"{R}/figures/memorisation_vs_difficulty.png",
            caption="../report/memorisation_vs_difficulty.rst",
            category="Scores before unlearning",
        ),
        exposure=report(
            f"{R}/figures/exposure_by_repetition.png",
            caption="../report/exposure_by_repetition.rst",
            category="Scores before unlearning",
        ),
    params:
        code=code_hash("jobs:example_table", "examples", "metrics", "plots", "io"),
    log:
        f"{R}/logs/example_table.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/example_table.py"


rule select_forget_sets:
    input:
        table=rules.example_table.output.table,
    output:
        expand(f"{R}/forget_sets/{{name}}.parquet", name=FORGET_SETS),
    params:
        forget_sets=config["forget_sets"],
        names=FORGET_SETS,
        code=code_hash("jobs:select_forget_sets", "forget_sets", "io"),
    log:
        f"{R}/logs/select_forget_sets.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/select_forget_sets.py"


rule find_neighbours:
    input:
        forget=f"{R}/forget_sets/{{forget_set}}.parquet",
        table=rules.example_table.output.table,
        retained=rules.select_id_sets.output.retained,
        spm=rules.train_subword.output.model,
    output:
        f"{R}/forget_sets/{{forget_set}}.neighbours.parquet",
    params:
        k=config["neighbours"]["k"],
        code=code_hash("jobs:find_neighbours", "examples", "neighbours", "subword", "io"),
    log:
        f"{R}/logs/neighbours_{{forget_set}}.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/find_neighbours.py"
