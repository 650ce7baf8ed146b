"""Rule audit: does one unlearning unit stay forgotten? Relearning, quantisation and the
membership scores of its model, replayed from the unlearning run (study/audit.py)."""

from unlearn_study.infra.stage import snakemake_object
from unlearn_study.infra.warm import hand_to_worker

snakemake = snakemake_object(globals(), "audit")
# In the job process this ends the script: the model's warm worker runs it (infra/warm.py).
hand_to_worker(snakemake, snakemake.input.checkpoint, snakemake.input.data)

import pandas as pd

from unlearn_study import methods
from unlearn_study.data import subword
from unlearn_study.infra.io import write_json, write_parquet
from unlearn_study.infra.stage import device, job
from unlearn_study.infra.warm import load_model
from unlearn_study.study import audit, evaluation, forget_sets, unlearning

inputs, output, p, wildcards = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
unit = forget_sets.unit_labels(wildcards.forget_set, wildcards.method, wildcards.batch, wildcards.seed)
run_name = f"audit {wildcards.method} batch-{wildcards.batch} {wildcards.forget_set} seed{wildcards.seed}"
with job(snakemake, run_name=run_name) as run:
    run.log_params({("model_seed" if k == "seed" else k): v for k, v in unit.items()})
    method = methods.create(wildcards.method, p.method_args)
    sp = subword.load(inputs.spm)
    model = load_model(inputs.checkpoint, inputs.data, device(snakemake))
    # needs_retain: the retain source of relearning trains on the pairs retain methods descend on
    data, table = evaluation.unit_job_data(snakemake, model, sp, unit["kind"], unit["half"], unit["seed"], True)
    settings = audit.Settings(**p.audits)
    extra = audit.audit_data(
        model,
        data,
        table,
        evaluation.population_sample(table, unit["kind"], p.population_sample, p.seed),
        pd.read_parquet(inputs.neighbours),
        unit["half"],
        settings,
        snakemake.resources.scoring_tokens,
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
