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
        P.log("example_pool"),
    benchmark:
        P.benchmark("example_pool")
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
        spm=rules.train_subword.output.model,
    output:
        P.scores,
    log:
        P.log("score_model"),
    benchmark:
        P.benchmark("score_model")
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
        generation_tokens=GENERATION_TOKENS,
        scoring_tokens=SCORING_TOKENS,
    params:
        generation=EXTRACTION,
        code=code("score_model.py"),
    script:
        "../workflow_scripts/score_model.py"


rule example_table:
    input:
        pool=rules.example_pool.output[0],
        halves=rules.split_halves.output[0],
        scores=of_models(P.scores, MODELS),
    output:
        table=P.examples,
        mem_vs_diff=report(
            P.figure_of("memorisation_vs_difficulty"),
            caption="../report/memorisation_vs_difficulty.rst",
            category="Scores before unlearning",
        ),
        exposure=report(
            P.figure_of("exposure_by_repetition"),
            caption="../report/exposure_by_repetition.rst",
            category="Scores before unlearning",
        ),
    log:
        P.log("example_table"),
    benchmark:
        P.benchmark("example_table")
    conda:
        "../envs/pipeline.yaml"
    params:
        models=MODELS,
        code=code("example_table.py"),
    script:
        "../workflow_scripts/example_table.py"


rule calibrate:
    input:
        table=rules.example_table.output.table,
    output:
        calibration=P.calibration,
        power=P.power,
    log:
        P.log("calibrate"),
    benchmark:
        P.benchmark("calibrate")
    conda:
        "../envs/pipeline.yaml"
    params:
        **UNLEARNING["calibration"],
        kinds=config["forget_sets"]["kinds"],
        alpha=UNLEARNING["alpha"],
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
        P.log("select_forget_set"),
    benchmark:
        P.benchmark("select_forget_set")
    conda:
        "../envs/pipeline.yaml"
    params:
        size=config["forget_sets"]["size"],
        seed=config["forget_sets"]["seed"],
        k=config["neighbours"]["k"],
        code=code("select_forget_set.py"),
    script:
        "../workflow_scripts/select_forget_set.py"
