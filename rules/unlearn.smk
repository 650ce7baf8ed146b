# Unlearning each forget set with each method from each unlearnt seed of its half's
# model, then the study's summary and claims.


# Step 0 of every unlearning job evaluates its starting model on the populations, the
# test set and the retain sample: computed once per model here, read by every job.
rule base_evaluation:
    input:
        checkpoint=P.checkpoint,
        data=P.data_bin,
        spm=rules.train_subword.output.model,
        table=rules.example_table.output.table,
        test=rules.prepare_corpus.output.test,
        retained=rules.select_id_sets.output.retained,
    output:
        P.base_evaluation,
    log:
        f"{P.logs_dir}/base_evaluation_{{half}}_seed{{seed}}.log",
    benchmark:
        f"{P.benchmarks_dir}/base_evaluation_{{half}}_seed{{seed}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        kinds=config["forget_sets"]["kinds"],
        retain_sample=UNLEARNING["retain_sample"],
        seed=UNLEARNING["seed"],
        generation=GENERATION,
        max_tokens=config["scoring"]["max_tokens"],
        code=code("base_evaluation.py"),
    script:
        "../workflow_scripts/base_evaluation.py"


rule unlearn:
    input:
        unpack(in_model),
        spm=rules.train_subword.output.model,
        table=rules.example_table.output.table,
        forget=rules.select_forget_set.output.forget,
        neighbours=rules.select_forget_set.output.neighbours,
        test=rules.prepare_corpus.output.test,
        retained=rules.select_id_sets.output.retained,
    output:
        examples=f"{P.unlearn_dir}/examples.parquet",
        steps=f"{P.unlearn_dir}/steps.parquet",
        translations=f"{P.unlearn_dir}/translations.parquet",
        status=f"{P.unlearn_dir}/status.json",
    log:
        f"{P.logs_dir}/unlearn_{{method}}_{{forget_set}}_seed{{seed}}.log",
    benchmark:
        f"{P.benchmarks_dir}/unlearn_{{method}}_{{forget_set}}_seed{{seed}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        method_args=method_args,
        settings=OPTIMISATION,
        retain_batch_size=retain_batch_size,
        retain_sample=UNLEARNING["retain_sample"],
        seed=UNLEARNING["seed"],
        generation=GENERATION,
        max_tokens=config["scoring"]["max_tokens"],
        code=lambda wc: code("unlearn.py", methods.module_of(wc.method)),
    script:
        "../workflow_scripts/unlearn.py"


rule summarise:
    input:
        steps=unlearning_outputs("steps"),
        examples=unlearning_outputs("examples"),
        translations=unlearning_outputs("translations"),
        table=rules.example_table.output.table,
        calibration=rules.calibrate.output[0],
        training=expand(P.training, half=HALVES, seed=UNLEARN_SEEDS),
        base=expand(P.base_evaluation, half=HALVES, seed=UNLEARN_SEEDS),
        test=rules.prepare_corpus.output.test,
    output:
        steps=f"{P.summary_dir}/steps.parquet",
        examples=f"{P.summary_dir}/examples.parquet",
        table=f"{P.summary_dir}/forget_sets.parquet",
        groups=f"{P.summary_dir}/groups.parquet",
        models=f"{P.summary_dir}/models.parquet",
        agreement=f"{P.summary_dir}/agreement.parquet",
        claims=f"{P.summary_dir}/claims.parquet",
        claims_markdown=report(f"{P.summary_dir}/claims.md", caption="../report/claims.rst", category="Summary"),
        markdown=report(f"{P.summary_dir}/summary.md", caption="../report/summary.rst", category="Summary"),
        claims_figure=report(f"{P.figures_dir}/claims.png", caption="../report/claims_figure.rst", category="Summary"),
        curves=report(
            f"{P.figures_dir}/metric_curves.png", caption="../report/metric_curves.rst", category="Unlearning"
        ),
        calibrated=report(
            f"{P.figures_dir}/indistinguishable_share.png",
            caption="../report/indistinguishable_share.rst",
            category="Unlearning",
        ),
        bleu=report(f"{P.figures_dir}/bleu_by_step.png", caption="../report/bleu_by_step.rst", category="Unlearning"),
        tradeoff=report(f"{P.figures_dir}/tradeoff.png", caption="../report/tradeoff.rst", category="Unlearning"),
        tradeoff_difficulty=report(
            f"{P.figures_dir}/tradeoff_difficulty.png", caption="../report/tradeoff_bucket.rst", category="Unlearning"
        ),
        tradeoff_memorisation=report(
            f"{P.figures_dir}/tradeoff_memorisation.png",
            caption="../report/tradeoff_bucket.rst",
            category="Unlearning",
        ),
        neighbours=report(
            f"{P.figures_dir}/neighbour_effect.png", caption="../report/neighbour_effect.rst", category="Unlearning"
        ),
        steps_to_unlearn=report(
            f"{P.figures_dir}/steps_to_unlearn.png", caption="../report/steps_to_unlearn.rst", category="Unlearning"
        ),
    log:
        f"{P.logs_dir}/summarise.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        tau=UNLEARNING["tau"],
        alpha=UNLEARNING["alpha"],
        claims=config["claims"],
        models=expand("{half}:{seed}", half=HALVES, seed=UNLEARN_SEEDS),
        code=code("summarise.py"),
    script:
        "../workflow_scripts/summarise.py"
