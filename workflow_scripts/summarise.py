"""Rule summarise: the study's tables, claims, summary and figures over every unlearning run."""

import pandas as pd

from unlearn_study.analysis import audits, calibration, claims, groups, uncertainty, units
from unlearn_study.infra import devices, tracking
from unlearn_study.infra.io import atomic_path, read_json, write_parquet
from unlearn_study.infra.stage import job, results_dir, snakemake_object
from unlearn_study.reporting import figures, markdown
from unlearn_study.study import examples

snakemake = snakemake_object(globals(), "summarise")
with job(snakemake) as run:
    inputs, output, p = snakemake.input, snakemake.output, snakemake.params
    settings = p.claims

    def gathered(paths):
        return pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)

    steps_by_unit = gathered(inputs.steps)
    devices.check_one_device(
        {
            **{"unlearn " + " ".join(map(str, key)): unit for key, unit in steps_by_unit.groupby(units.UNIT)},
            **{f"scores {path}": pd.read_parquet(path, columns=devices.COLUMNS) for path in inputs.scores},
            **{f"base evaluation {path}": pd.read_parquet(path, columns=devices.COLUMNS) for path in inputs.base},
            **{f"audit {path}": pd.read_parquet(path, columns=devices.COLUMNS) for path in inputs.audit_evaluations},
        },
        allow_mixed=settings["allow_mixed_devices"],
    )
    calibrations = pd.read_parquet(inputs.calibration)
    power = pd.read_parquet(inputs.power)
    example_table = pd.read_parquet(inputs.table)
    trace, population = gathered(inputs.trace), gathered(inputs.population)
    unlearnt_examples = gathered(inputs.examples)
    damage = units.population_damage(population, example_table, calibrations, trace, p.holdout, p.calibration_seed)
    steps = units.annotate(steps_by_unit, trace).merge(damage, on=[*units.UNIT, "step"], how="left")
    unit_table = units.per_unit(
        steps, unlearnt_examples, trace, tau=p.tau, alpha=p.alpha, fixed_step=settings["fixed_step"]
    )
    references = pd.read_parquet(inputs.test)["tgt"].tolist()
    boot = uncertainty.uncertainty(
        unit_table,
        gathered(inputs.translations),
        references,
        n=settings["bootstrap"],
        level=settings["level"],
        seed=settings["seed"],
        max_step=p.steps,
    )
    group_table = groups.groups(boot)
    agree = groups.agreement(unlearnt_examples)
    models = [(model["half"], model["seed"]) for model in p.models]
    trainings = {key: read_json(path) for key, path in zip(models, inputs.training, strict=True)}
    base = {key: pd.read_parquet(path) for key, path in zip(models, inputs.base, strict=True)}
    model_table = groups.models(trainings, base, references)
    paper_claims = claims.table(boot, settings["min_base_bleu"], base_bleu=float(model_table["bleu"].min()))
    audit_examples, audit_evaluations = gathered(inputs.audit_examples), gathered(inputs.audit_evaluations)
    fits = calibrations.set_index("kind").to_dict("index")  # kind -> its calibration: the LiRA statistic's form
    recovered, members = audits.per_unit(audit_examples, fits)
    recovery_groups = audits.recovery_groups(recovered, settings["level"])
    membership_groups = audits.membership_groups(members, settings["level"])
    exploratory = audits.exploratory_claims(recovered, members, settings["level"])
    claim_table = pd.concat([paper_claims.assign(exploratory=False), exploratory], ignore_index=True)
    metric_table = groups.metric_table(boot)
    for name, table in (
        ("steps", steps),
        ("trace", trace),
        ("population", population),
        ("examples", unlearnt_examples),
        ("table", unit_table),
        ("groups", group_table),
        ("metrics", metric_table),
        ("models", model_table),
        ("agreement", agree),
        ("claims", claim_table),
        ("audit_recovery", recovered),
        ("audit_membership", members),
        ("audit_recovery_groups", recovery_groups),
        ("audit_membership_groups", membership_groups),
    ):
        write_parquet(table, output[name])
    models_section = markdown.models_section(model_table, settings["min_base_bleu"])
    claims_body = markdown.claims_section(paper_claims, settings["level"], settings["bootstrap"], boot.conditional_on)
    exploratory_body = markdown.exploratory_claims_section(exploratory, settings["level"]) if len(exploratory) else []
    with atomic_path(output.claims_markdown) as tmp:
        tmp.write_text(markdown.document("Claims", models_section, claims_body, exploratory_body))
    with atomic_path(output.markdown) as tmp:
        tmp.write_text(
            markdown.document(
                "Unlearning summary",
                models_section,
                markdown.scores_section(
                    examples.score_groups(example_table), examples.population_check(example_table), settings["level"]
                ),
                markdown.calibration_section(calibrations, p.alpha, settings["level"]),
                markdown.tests_section(power, steps, p.alpha),
                ["## Claims", "", *claims_body],
                markdown.groups_section(group_table, p.tau, settings["level"], boot.conditional_on),
                markdown.metrics_section(metric_table, settings["level"], boot.conditional_on),
                markdown.units_section(unit_table, steps["bleu_signature"].iloc[0]),
                markdown.audits_section(recovery_groups, membership_groups, exploratory, settings["level"]),
                markdown.agreement_section(agree),
                markdown.environment_section(
                    {
                        **tracking.environment(),
                        "results computed on": ", ".join(
                            sorted(set(steps_by_unit["device"] + " (" + steps_by_unit["dtype"] + ")"))
                        ),
                    }
                ),
            )
        )
    n_examples = int(unit_table["n_examples"].max())
    figures.LEVEL = settings["level"]
    scheduled = steps[steps["trigger"].str.contains("schedule")]  # every unit evaluated alike: curves
    figures.claims_forest(paper_claims, output.claims_figure)
    figures.audit_relearning(recovered, output.audit_relearning)
    figures.audit_quantisation(audit_evaluations, output.audit_quantisation)
    figures.audit_roc(audits.roc_rows(audit_examples, fits), output.audit_roc)
    figures.metric_curves(scheduled, output.curves)
    figures.indistinguishable_share(
        units.step_shares(trace),
        p.alpha,
        calibration.unlearnt_count(n_examples, p.alpha) / n_examples,
        output.calibrated,
    )
    figures.tests_by_step(scheduled, p.alpha, output.tests)
    figures.bleu_by_step(scheduled, output.bleu)
    figures.tradeoff(scheduled, output.tradeoff)
    figures.tradeoff_by_bucket(scheduled, "difficulty", output.tradeoff_difficulty)
    figures.tradeoff_by_bucket(scheduled, "memorisation", output.tradeoff_memorisation)
    figures.neighbour_effect(scheduled, output.neighbours)
    figures.steps_to_unlearn_by_bucket(group_table, unit_table, output.steps_to_unlearn)
    for r in power.itertuples():
        run.log_metrics(
            {f"power.{r.kind}_r{r.repetitions}.{t}": getattr(r, t) for t in ("strict_power", "specific_power")}
        )
    for r in agree.itertuples():
        run.log_metrics(
            {f"agreement.{r.method}.{r.kind}.spearman": r.spearman, f"agreement.{r.method}.{r.kind}.mae": r.mae}
        )
    tracking.log_claims(results_dir(snakemake), claim_table)
    for path in output:
        run.log_artifact(path)
