# Per-example scores, the calibration of the unlearning test, forget sets and neighbours
# (docs/METHOD.md, Scores; Calibrated test; Forget sets).


rule example_pool:
    input:
        candidates=rules.select_id_sets.output.candidates,
        population=rules.select_id_sets.output.population,
        canaries=rules.make_canaries.output.canaries,
        canary_population=rules.make_canaries.output.population,
        test=rules.prepare_corpus.output.test,
        spm=rules.train_subword.output.model,
    output:
        P.pool,
    log:
        f"{P.logs_dir}/example_pool.log",
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
        data=P.data_bin,
    output:
        P.scores,
    log:
        f"{P.logs_dir}/score_{{half}}_seed{{seed}}.log",
    benchmark:
        f"{P.benchmarks_dir}/score_{{half}}_seed{{seed}}.tsv"
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
        halves=rules.split_halves.output[0],
        scores=expand(P.scores, half=HALVES, seed=SEEDS),
    output:
        table=P.examples,
        mem_vs_diff=report(
            f"{P.figures_dir}/memorisation_vs_difficulty.png",
            caption="../report/memorisation_vs_difficulty.rst",
            category="Scores before unlearning",
        ),
        exposure=report(
            f"{P.figures_dir}/exposure_by_repetition.png",
            caption="../report/exposure_by_repetition.rst",
            category="Scores before unlearning",
        ),
    log:
        f"{P.logs_dir}/example_table.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        models=expand("{half}:{seed}", half=HALVES, seed=SEEDS),
        code=code("example_table.py"),
    script:
        "../workflow_scripts/example_table.py"


rule calibrate:
    input:
        table=rules.example_table.output.table,
    output:
        P.calibration,
    log:
        f"{P.logs_dir}/calibrate.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        **UNLEARNING["calibration"],
        kinds=config["forget_sets"]["kinds"],
        alpha=UNLEARNING["alpha"],
        bootstrap=config["claims"]["bootstrap"],
        level=config["claims"]["level"],
        code=code("calibrate.py"),
    script:
        "../workflow_scripts/calibrate.py"


# One job per forget set: the set, then each member's nearest trained and never-trained
# neighbours.
rule select_forget_set:
    input:
        table=rules.example_table.output.table,
        retained=rules.select_id_sets.output.retained,
        spm=rules.train_subword.output.model,
    output:
        forget=P.forget_set,
        neighbours=P.neighbours,
    log:
        f"{P.logs_dir}/select_forget_set_{{forget_set}}.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        size=config["forget_sets"]["size"],
        seed=config["forget_sets"]["seed"],
        k=config["neighbours"]["k"],
        code=code("select_forget_set.py"),
    script:
        "../workflow_scripts/select_forget_set.py"
