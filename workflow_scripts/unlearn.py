"""Rule unlearn: one forget set unlearnt by one method from one seed of its half's model,
evaluated at the scheduled steps; tables first, MLflow after."""

import pandas as pd

from unlearn_study import eval_sets, forget_sets, methods, scoring, subword, unlearning
from unlearn_study.io import write_json, write_parquet
from unlearn_study.stage import device, job, snakemake_object

snakemake = snakemake_object(globals(), "unlearn")
inputs, output, p, wildcards = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards
described = forget_sets.parse(wildcards.forget_set)
with job(snakemake, run_name=f"unlearn {wildcards.method} {wildcards.forget_set} seed{wildcards.seed}") as run:
    labels = {
        "forget_set": wildcards.forget_set,
        "method": wildcards.method,
        "seed": int(wildcards.seed),
        "kind": described.kind,
        "grouping": described.grouping,
        "bucket": described.bucket,
        "replicate": described.replicate,
        "half": described.half,
    }
    run.log_params({("model_seed" if k == "seed" else k): v for k, v in labels.items()})  # params.seed: the optimiser's
    method = methods.create(wildcards.method, p.method_args)
    sp = subword.load(inputs.spm)
    model = scoring.load_model(inputs.checkpoint, inputs.data, device=device(snakemake))
    table = pd.read_parquet(inputs.table)
    forget = pd.read_parquet(inputs.forget)
    neighbour_table = pd.read_parquet(inputs.neighbours)
    unique_neighbours = neighbour_table.drop_duplicates("example_id")
    test = subword.with_pieces(pd.read_parquet(inputs.test), sp)
    retain_eval, retain_train = eval_sets.retain_split(
        pd.read_parquet(inputs.retained), sample=p.retain_sample, seed=p.seed
    )
    if not method.needs_retain:
        retain_train = retain_train.iloc[:0]
    retain_eval, retain_train = subword.with_pieces(retain_eval, sp), subword.with_pieces(retain_train, sp)
    evaluated = eval_sets.parts(table, test, retain_eval, [described.kind])

    def encoded(df):
        return eval_sets.encode(model, df, p.max_tokens)

    data = unlearning.EvalData(
        kind=described.kind,
        forget=forget,
        forget_pairs=encoded(forget),
        population=encoded(evaluated[f"population_{described.kind}"][0]),
        neighbours=neighbour_table[["forget_id", "group", "example_id"]],
        neighbour_pairs=encoded(unique_neighbours),
        neighbour_ids=unique_neighbours["example_id"].tolist(),
        test_pairs=encoded(test),
        test_references=test["tgt"].tolist(),
        retain_pairs=encoded(retain_eval),
        retain_train_pairs=encoded(retain_train),
        decode=lambda pieces: subword.decode(sp, pieces),
        generation=unlearning.Generation(
            **p.generation, max_tokens=snakemake.config["unlearning"]["generation"]["max_tokens"]
        ),
        base=eval_sets.read_base_evaluation(inputs.base, evaluated, described.kind),
    )
    settings = unlearning.Settings(**p.settings, retain_batch_size=p.retain_batch_size, seed=p.seed)
    result = unlearning.unlearn(model, data, method, settings)
    unit = {k: labels[k] for k in ("forget_set", "method", "seed", "grouping", "bucket", "replicate", "half")}
    write_parquet(result.examples.assign(**unit), output.examples)
    write_parquet(result.steps.assign(**unit, kind=described.kind, status=result.status), output.steps)
    write_parquet(
        result.translations.assign(forget_set=wildcards.forget_set, method=wildcards.method, seed=int(wildcards.seed)),
        output.translations,
    )
    write_json({"status": result.status, **{k: round(v, 3) for k, v in data.timings.items()}}, output.status)
    for row in result.steps.to_dict("records"):
        run.log_metrics({k: v for k, v in row.items() if isinstance(v, float)}, step=int(row["step"]))
    run.log_params({k: result.steps[k].iloc[0] for k in ("bleu_signature", "chrf_signature") if k in result.steps})
    run.log_metrics({f"time_{k}": v for k, v in data.timings.items()})
    for path in output:
        run.log_artifact(path)
