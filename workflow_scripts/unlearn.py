"""Rule unlearn: one forget set unlearnt by one method from one seed of its half's model,
evaluated at the scheduled steps; tables first, MLflow after."""

from unlearn_study.infra.stage import snakemake_object
from unlearn_study.infra.warm import hand_to_worker

snakemake = snakemake_object(globals(), "unlearn")
# In the job process this ends the script: the model's warm worker runs it (infra/warm.py).
hand_to_worker(snakemake, snakemake.input.checkpoint, snakemake.input.data)

import time

from unlearn_study import methods, metrics
from unlearn_study.data import subword
from unlearn_study.infra.io import write_json, write_parquet
from unlearn_study.infra.stage import device, job
from unlearn_study.infra.warm import in_worker, job_started, load_model
from unlearn_study.study import evaluation, forget_sets, unlearning

inputs, output, p, wildcards = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
labels = forget_sets.unit_labels(wildcards.forget_set, wildcards.method, wildcards.batch, wildcards.seed)
run_name = f"unlearn {wildcards.method} batch-{wildcards.batch} {wildcards.forget_set} seed{wildcards.seed}"
with job(snakemake, run_name=run_name) as run:
    run.log_params({("model_seed" if k == "seed" else k): v for k, v in labels.items()})  # params.seed: the optimiser's
    method = methods.create(wildcards.method, p.method_args)
    sp = subword.load(inputs.spm)
    model = load_model(inputs.checkpoint, inputs.data, device(snakemake))
    data, _ = evaluation.unit_job_data(
        snakemake,
        model,
        sp,
        labels["kind"],
        labels["half"],
        labels["seed"],
        needs_retain=method.needs_retain,
        base_path=inputs.base,
    )
    settings = unlearning.Settings(
        **p.settings, batch_size=p.batch_size, retain_batch_size=p.retain_batch_size, seed=p.seed
    )
    data.timings["setup_s"] = time.time() - job_started()  # process start to step 0: the fixed cost
    result = unlearning.unlearn(model, data, method, settings)
    computed_on = model.computed_on()  # on every table: the summary refuses to mix devices
    unit = {k: labels[k] for k in ("forget_set", "method", "batch", "seed", "grouping", "bucket", "replicate", "half")}
    write_parquet(result.examples.assign(**unit, **computed_on), output.examples)
    write_parquet(result.steps.assign(**unit, kind=labels["kind"], status=result.status, **computed_on), output.steps)
    write_parquet(
        result.translations.assign(**{k: labels[k] for k in ("forget_set", "method", "batch", "seed")}, **computed_on),
        output.translations,
    )
    write_parquet(result.trace.assign(**unit, kind=labels["kind"], **computed_on), output.trace)
    write_parquet(result.population.assign(**unit, kind=labels["kind"], **computed_on), output.population)
    write_json(
        {
            "status": result.status,
            **computed_on,
            "process": "warm worker" if in_worker() else "own",
            **{k: round(v, 3) for k, v in data.timings.items()},
        },
        output.status,
    )
    run.set_tags(computed_on)
    columns = [m.column for m in metrics.REGISTRY.values()] + ["loss"]
    for row in result.steps.to_dict("records"):
        run.log_metrics({k: row[k] for k in columns if k in row}, step=int(row["step"]))
    run.log_params({k: result.steps[k].iloc[0] for k in result.steps if k.endswith("_signature")})
    run.log_metrics({f"time_{k}": v for k, v in data.timings.items()})
    for path in output:
        run.log_artifact(path)
