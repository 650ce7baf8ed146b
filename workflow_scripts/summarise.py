"""Rule summarise: the study's tables, claims, summary and figures over every unlearning run."""

import pandas as pd

from unlearn_study import calibration, claims, examples, plots, summary, tracking
from unlearn_study.io import atomic_path, read_json, write_parquet
from unlearn_study.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "summarise")
with job(snakemake) as run:
    inputs, output, p = snakemake.input, snakemake.output, snakemake.params
    settings = p.claims

    def gathered(paths):
        return pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)

    calibrations = pd.read_parquet(inputs.calibration)
    example_table = pd.read_parquet(inputs.table)
    steps, unlearnt_examples = summary.annotate(
        gathered(inputs.steps), gathered(inputs.examples), example_table, calibrations
    )
    units = summary.per_unit(steps, unlearnt_examples, tau=p.tau, alpha=p.alpha, fixed_step=settings["fixed_step"])
    references = pd.read_parquet(inputs.test)["tgt"].tolist()
    boot = summary.resamples(
        units,
        gathered(inputs.translations),
        references,
        n=settings["bootstrap"],
        level=settings["level"],
        seed=settings["seed"],
    )
    group_table = summary.groups(boot)
    agree = summary.agreement(unlearnt_examples)
    keys = [(half, int(seed)) for half, seed in (model.split(":") for model in p.models)]
    trainings = {key: read_json(path) for key, path in zip(keys, inputs.training, strict=True)}
    base = {key: pd.read_parquet(path) for key, path in zip(keys, inputs.base, strict=True)}
    model_table = summary.models(trainings, base, references)
    claim_table = claims.table(boot, settings["min_base_bleu"], base_bleu=float(model_table["bleu"].min()))
    claim_lines = claims.markdown(claim_table, settings["level"], settings["bootstrap"])
    signature = steps["bleu_signature"].iloc[0] if "bleu_signature" in steps else "n/a"
    for name, table in (
        ("steps", steps),
        ("examples", unlearnt_examples),
        ("table", units),
        ("groups", group_table),
        ("models", model_table),
        ("agreement", agree),
        ("claims", claim_table),
    ):
        write_parquet(table, output[name])
    with atomic_path(output.claims_markdown) as tmp:
        tmp.write_text(
            "# Claims\n\n"
            + "\n".join(summary.models_markdown(model_table, settings["min_base_bleu"]) + [""] + claim_lines[2:])
            + "\n"
        )
    with atomic_path(output.markdown) as tmp:
        tmp.write_text(
            summary.markdown(
                units,
                group_table,
                agree,
                model_table,
                calibrations,
                claim_lines,
                p.tau,
                p.alpha,
                settings["min_base_bleu"],
                signature,
                tracking.environment(),
                examples.summary(example_table),
            )
        )
    n_examples = int(units["n_examples"].max())
    plots.claims_forest(claim_table, output.claims_figure)
    plots.metric_curves(steps, output.curves)
    plots.indistinguishable_share(
        steps, p.alpha, calibration.unlearnt_count(n_examples, p.alpha) / n_examples, output.calibrated
    )
    plots.bleu_by_step(steps, output.bleu)
    plots.tradeoff(steps, output.tradeoff)
    plots.tradeoff_by_bucket(steps, "difficulty", output.tradeoff_difficulty)
    plots.tradeoff_by_bucket(steps, "memorisation", output.tradeoff_memorisation)
    plots.neighbour_effect(steps, output.neighbours)
    plots.steps_to_unlearn_by_bucket(group_table, units, output.steps_to_unlearn)
    for r in agree.itertuples():
        run.log_metrics(
            {f"agreement.{r.method}.{r.kind}.spearman": r.spearman, f"agreement.{r.method}.{r.kind}.mae": r.mae}
        )
    tracking.log_claims(snakemake.config["results_dir"], claim_table)
    for path in output:
        run.log_artifact(path)
