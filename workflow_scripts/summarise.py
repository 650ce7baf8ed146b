"""Rule summarise: the study's tables, summary and figures over every unlearning run."""

import pandas as pd

from unlearn_study import plots, summary
from unlearn_study.io import atomic_path, write_parquet
from unlearn_study.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "summarise")
with job(snakemake) as run:
    inputs, output, tau = snakemake.input, snakemake.output, snakemake.params.tau
    steps = pd.concat([pd.read_parquet(p) for p in inputs.steps], ignore_index=True)
    per_example = pd.concat([pd.read_parquet(p) for p in inputs.examples], ignore_index=True)
    table = summary.per_forget_set(steps, per_example, tau)
    agree = summary.agreement(per_example)
    write_parquet(steps, output.steps)
    write_parquet(per_example, output.examples)
    write_parquet(table, output.table)
    write_parquet(agree, output.agreement)
    signature = steps["bleu_signature"].iloc[0] if "bleu_signature" in steps else "n/a"
    with atomic_path(output.markdown) as tmp:
        tmp.write_text(summary.markdown(table, agree, tau, signature, steps))
    plots.metric_curves(steps, output.curves)
    plots.tradeoff(steps, output.tradeoff)
    plots.tradeoff_by_bucket(steps, "difficulty", output.tradeoff_difficulty)
    plots.tradeoff_by_bucket(steps, "memorisation", output.tradeoff_memorisation)
    plots.neighbour_effect(steps, output.neighbours)
    plots.steps_to_unlearn_by_bucket(table, output.steps_to_unlearn)
    for r in agree.itertuples():
        run.log_metrics(
            {f"agreement.{r.method}.{r.kind}.spearman": r.spearman, f"agreement.{r.method}.{r.kind}.mae": r.mae}
        )
    for path in output:
        run.log_artifact(path)
