# Per-example scores, forget sets and neighbours (docs/METHOD.md, Scores; Forget sets).


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
    log:
        f"{R}/logs/example_pool.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        test_sample=config["scoring"]["test_sample"],
        seed=config["scoring"]["seed"],
        code=code("example_pool.py"),
    script:
        "../workflow_scripts/example_pool.py"


rule score_model:
    input:
        pool=rules.example_pool.output[0],
        checkpoint=rules.train_model.output.checkpoint,
        data=f"{R}/data/bin/{{model}}",
    output:
        f"{R}/scores/{{model}}_seed{{seed}}.parquet",
    log:
        f"{R}/logs/score_{{model}}_seed{{seed}}.log",
    benchmark:
        f"{R}/benchmarks/score_{{model}}_seed{{seed}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        max_tokens=config["scoring"]["max_tokens"],
        code=code("score_model.py"),
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
    log:
        f"{R}/logs/example_table.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        code=code("example_table.py"),
    script:
        "../workflow_scripts/example_table.py"


rule select_forget_set:
    input:
        table=rules.example_table.output.table,
    output:
        f"{R}/forget_sets/{{forget_set}}.parquet",
    log:
        f"{R}/logs/select_forget_set_{{forget_set}}.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        size=config["forget_sets"]["size"],
        seed=config["forget_sets"]["seed"],
        code=code("select_forget_set.py"),
    script:
        "../workflow_scripts/select_forget_set.py"


rule find_neighbours:
    input:
        forget=rules.select_forget_set.output[0],
        table=rules.example_table.output.table,
        retained=rules.select_id_sets.output.retained,
        spm=rules.train_subword.output.model,
    output:
        f"{R}/forget_sets/{{forget_set}}.neighbours.parquet",
    log:
        f"{R}/logs/neighbours_{{forget_set}}.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        k=config["neighbours"]["k"],
        code=code("find_neighbours.py"),
    script:
        "../workflow_scripts/find_neighbours.py"
