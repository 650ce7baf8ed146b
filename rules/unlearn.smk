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
        P.log("base_evaluation"),
    benchmark:
        P.benchmark("base_evaluation")
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
        generation_tokens=GENERATION_TOKENS,
        scoring_tokens=SCORING_TOKENS,
    params:
        kinds=config["forget_sets"]["kinds"],
        retain_sample=UNLEARNING["retain_sample"],
        population_sample=UNLEARNING["population_sample"],
        seed=UNLEARNING["seed"],
        generation=GENERATION,
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
        calibration=rules.calibrate.output.calibration,
        test=rules.prepare_corpus.output.test,
        retained=rules.select_id_sets.output.retained,
    output:
        examples=P.unlearn_examples,
        steps=P.unlearn_steps,
        translations=P.unlearn_translations,
        trace=P.unlearn_trace,
        population=P.unlearn_population,
        status=P.unlearn_status,
    log:
        P.log("unlearn"),
    benchmark:
        P.benchmark("unlearn")
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
        generation_tokens=GENERATION_TOKENS,
        scoring_tokens=SCORING_TOKENS,
    params:
        method_args=method_args,
        settings=OPTIMISATION,
        batch_size=lambda wc: batch_size(wc.batch),
        tests=TESTS,
        retain_batch_size=retain_batch_size,
        retain_sample=UNLEARNING["retain_sample"],
        population_sample=UNLEARNING["population_sample"],
        seed=UNLEARNING["seed"],
        generation=GENERATION,
        code=lambda wc: code("unlearn.py", methods.module_of(wc.method), *METRIC_MODULES),
    script:
        "../workflow_scripts/unlearn.py"


rule summarise:
    input:
        steps=unlearning_outputs(P.unlearn_steps),
        examples=unlearning_outputs(P.unlearn_examples),
        translations=unlearning_outputs(P.unlearn_translations),
        trace=unlearning_outputs(P.unlearn_trace),
        population=unlearning_outputs(P.unlearn_population),
        table=rules.example_table.output.table,
        calibration=rules.calibrate.output.calibration,
        power=rules.calibrate.output.power,
        training=of_models(P.training, UNLEARNT_MODELS),
        base=of_models(P.base_evaluation, UNLEARNT_MODELS),
        scores=of_models(P.scores, MODELS),
        test=rules.prepare_corpus.output.test,
        audit_examples=audit_outputs(P.audit_examples),
        audit_evaluations=audit_outputs(P.audit_evaluations),
    output:
        steps=P.summary_steps,
        trace=P.summary_trace,
        population=P.summary_population,
        examples=P.summary_examples,
        table=P.summary_units,
        groups=P.summary_groups,
        metrics=P.summary_metrics,
        models=P.summary_models,
        agreement=P.summary_agreement,
        claims=P.summary_claims,
        audit_recovery=P.summary_audit_recovery,
        audit_membership=P.summary_audit_membership,
        audit_recovery_groups=P.summary_audit_recovery_groups,
        audit_membership_groups=P.summary_audit_membership_groups,
        claims_markdown=report(P.claims_markdown, caption="../report/claims.rst", category="Summary"),
        markdown=report(P.summary_markdown, caption="../report/summary.rst", category="Summary"),
        claims_figure=report(P.figure_of("claims"), caption="../report/claims_figure.rst", category="Summary"),
        curves=report(P.figure_of("metric_curves"), caption="../report/metric_curves.rst", category="Unlearning"),
        calibrated=report(
            P.figure_of("indistinguishable_share"),
            caption="../report/indistinguishable_share.rst",
            category="Unlearning",
        ),
        tests=report(P.figure_of("tests_by_step"), caption="../report/tests_by_step.rst", category="Unlearning"),
        bleu=report(P.figure_of("bleu_by_step"), caption="../report/bleu_by_step.rst", category="Unlearning"),
        tradeoff=report(P.figure_of("tradeoff"), caption="../report/tradeoff.rst", category="Unlearning"),
        tradeoff_difficulty=report(
            P.figure_of("tradeoff_difficulty"), caption="../report/tradeoff_bucket.rst", category="Unlearning"
        ),
        tradeoff_memorisation=report(
            P.figure_of("tradeoff_memorisation"), caption="../report/tradeoff_bucket.rst", category="Unlearning"
        ),
        neighbours=report(
            P.figure_of("neighbour_effect"), caption="../report/neighbour_effect.rst", category="Unlearning"
        ),
        steps_to_unlearn=report(
            P.figure_of("steps_to_unlearn"), caption="../report/steps_to_unlearn.rst", category="Unlearning"
        ),
        audit_relearning=report(
            P.figure_of("audit_relearning"), caption="../report/audit_relearning.rst", category="Audits"
        ),
        audit_quantisation=report(
            P.figure_of("audit_quantisation"), caption="../report/audit_quantisation.rst", category="Audits"
        ),
        audit_roc=report(P.figure_of("audit_membership_roc"), caption="../report/audit_roc.rst", category="Audits"),
    log:
        P.log("summarise"),
    benchmark:
        P.benchmark("summarise")
    conda:
        "../envs/pipeline.yaml"
    params:
        tau=UNLEARNING["tau"],
        steps=UNLEARNING["steps"],
        holdout=UNLEARNING["calibration"]["holdout"],
        calibration_seed=UNLEARNING["calibration"]["seed"],
        alpha=UNLEARNING["alpha"],
        claims=config["claims"],
        models=UNLEARNT_MODELS,
        code=code("summarise.py", *METRIC_MODULES),
    script:
        "../workflow_scripts/summarise.py"
