"""Rule audit: does one unlearning unit stay forgotten? Relearning, quantisation and the
membership scores of its model, replayed from the unlearning run (study/audit.py)."""

from unlearn_study.infra.stage import snakemake_object
from unlearn_study.infra.warm import hand_to_worker

snakemake = snakemake_object(globals(), "audit")
# In the job process this ends the script: the model's warm worker runs it (infra/warm.py).
hand_to_worker(snakemake, snakemake.input.checkpoint, snakemake.input.data)

import pandas as pd

from unlearn_study import methods
from unlearn_study.backends.fairseq.generation import Generation
from unlearn_study.data import subword
from unlearn_study.infra.io import write_json, write_parquet
from unlearn_study.infra.stage import device, job
from unlearn_study.infra.warm import load_model
from unlearn_study.study import audit, evaluation, forget_sets, unlearning

inputs, output, p, wildcards = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
described = forget_sets.parse(wildcards.forget_set)
run_name = f"audit {wildcards.method} batch-{wildcards.batch} {wildcards.forget_set} seed{wildcards.seed}"
with job(snakemake, run_name=run_name) as run:
    unit = {
        "forget_set": wildcards.forget_set,
        "method": wildcards.method,
        "batch": wildcards.batch,
        "seed": int(wildcards.seed),
        "kind": described.kind,
        "grouping": described.grouping,
        "bucket": described.bucket,
        "replicate": described.replicate,
        "half": described.half,
    }
    run.log_params({("model_seed" if k == "seed" else k): v for k, v in unit.items()})
    method = methods.create(wildcards.method, p.method_args)
    sp = subword.load(inputs.spm)
    model = load_model(inputs.checkpoint, inputs.data, device(snakemake))
    table = pd.read_parquet(inputs.table)
    strict = pd.read_parquet(inputs.calibration).set_index("kind").loc[described.kind].to_dict()
    tokens = snakemake.resources.scoring_tokens
    tests = evaluation.tests(model, table, described.kind, described.half, int(wildcards.seed), strict, p.tests, tokens)
    neighbours = pd.read_parquet(inputs.neighbours)
    data = evaluation.job_data(
        model,
        sp,
        kind=described.kind,
        table=table,
        forget=pd.read_parquet(inputs.forget),
        neighbours=neighbours,
        test=pd.read_parquet(inputs.test),
        retained=pd.read_parquet(inputs.retained),
        retain_sample=p.retain_sample,
        population_size=p.population_sample,
        seed=p.seed,
        needs_retain=True,  # the retain source of relearning trains on the pairs retain methods descend on
        max_tokens=tokens,
        generation=Generation(**p.generation, max_tokens=snakemake.resources.generation_tokens),
        tests=tests,
    )
    settings = audit.Settings(**p.audits)
    extra = audit.audit_data(
        model,
        data,
        table,
        evaluation.population_sample(table, described.kind, p.population_sample, p.seed),
        neighbours,
        described.half,
        settings,
        tokens,
    )
    examples, evaluations, status = audit.audit(
        model,
        data,
        extra,
        method,
        unlearning.Settings(**p.settings, batch_size=p.batch_size, retain_batch_size=p.retain_batch_size, seed=p.seed),
        settings,
        pd.read_parquet(inputs.trace),
        pd.read_parquet(inputs.steps),
    )
    computed_on = model.computed_on()
    write_parquet(examples.assign(**unit, **computed_on), output.examples)
    write_parquet(evaluations.assign(**unit, **computed_on), output.evaluations)
    write_json({**status, **computed_on}, output.status)
    run.set_tags(computed_on)
    for row in evaluations.to_dict("records"):
        prefix = f"{row['state']}.{row['audit']}.{row['variant']}"
        run.log_metrics(
            {f"{prefix}.{k}": float(row[k]) for k in ("bleu", "extraction_rate", "genex_mean", "specific_share")},
            step=int(row["step"]),
        )
    for path in output:
        run.log_artifact(path)
