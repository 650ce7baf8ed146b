# Does it stay forgotten? One audit job per audited unlearning unit (config audits):
# relearning, quantisation and membership scores of its model, replayed from the run.


rule audit:
    input:
        unpack(in_model),
        spm=rules.train_subword.output.model,
        table=rules.example_table.output.table,
        forget=rules.select_forget_set.output.forget,
        neighbours=rules.select_forget_set.output.neighbours,
        calibration=rules.calibrate.output.calibration,
        test=rules.prepare_corpus.output.test,
        retained=rules.select_id_sets.output.retained,
        trace=P.unlearn_trace,
        steps=P.unlearn_steps,
    output:
        examples=P.audit_examples,
        evaluations=P.audit_evaluations,
        status=P.audit_status,
    log:
        P.log("audit"),
    benchmark:
        P.benchmark("audit")
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
        generation_tokens=GENERATION_TOKENS,
        scoring_tokens=SCORING_TOKENS,
    params:
        audits=AUDIT_SETTINGS,
        method_args=method_args,
        settings=OPTIMISATION,
        batch_size=lambda wc: batch_size(wc.batch),
        tests=TESTS,
        retain_batch_size=retain_batch_size,
        retain_sample=UNLEARNING["retain_sample"],
        population_sample=UNLEARNING["population_sample"],
        seed=UNLEARNING["seed"],
        generation=GENERATION,
        code=lambda wc: code("audit.py", methods.module_of(wc.method), *METRIC_MODULES),
    script:
        "../workflow_scripts/audit.py"
