"""The summary and the claims as markdown: one function per section, each from its table.

Numbers take their decimals from what they are (a metric's or a quantity's ``digits``),
never from their column's name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from unlearn_study import metrics
from unlearn_study.analysis import calibration, intervals
from unlearn_study.analysis.groups import GROUP_QUANTITIES, METRIC_READINGS
from unlearn_study.analysis.units import QUANTITIES
from unlearn_study.study import kinds


def number(value, digits: int = 2) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def with_interval(value, low, high, digits: int = 2) -> str:
    if not np.isfinite(low):
        return number(value, digits)
    return f"{number(value, digits)} [{number(low, digits)}, {number(high, digits)}]"


def percent(level: float) -> str:
    return f"{level:.0%}"


def table(header: list[str], rows: list[list]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def models_section(model_table: pd.DataFrame, min_bleu: float) -> list[str]:
    lines = ["## The unlearnt models before unlearning", ""]
    lines += table(
        [
            "half",
            "seed",
            "test BLEU",
            "test chrF",
            "training stopped by",
            "epochs",
            "updates",
            "best epoch",
            "best valid loss",
        ],
        [
            [
                r.half,
                r.seed,
                f"{r.bleu:.2f}",
                f"{r.chrf:.2f}",
                r.stopped_by,
                r.epochs_trained,
                r.updates,
                r.best_epoch,
                number(r.best_valid_loss, 3),
            ]
            for r in model_table.itertuples()
        ],
    )
    weak = model_table[model_table["bleu"] < min_bleu]
    lines.append("")
    if len(weak):
        lines.append(
            f"**The models do not translate well enough for the study's utility axis**: test BLEU "
            f"{', '.join(f'{b:.2f}' for b in weak['bleu'])} is below claims.min_base_bleu ({min_bleu}). "
            "No claim gets a verdict. Train longer (model.max_update, model.patience) or on more data."
        )
    if (model_table["stopped_by"] == "max_update").any():
        lines.append(
            "Training stopped at the update cap (model.max_update), not by convergence: the "
            "validation loss was still falling."
        )
    return lines


def _of_summary(mean_value, se, n, level) -> str:
    estimate = intervals.of_summary(mean_value, se, n, level)
    return with_interval(estimate.estimate, estimate.low, estimate.high)


def scores_section(score_groups: pd.DataFrame, population_check: pd.DataFrame, level: float = 0.95) -> list[str]:
    """The scores before unlearning per kind and repetition level, with t intervals over the
    examples, and the check that the populations, which no model saw, score alike under
    both halves' models (intervals conditional on the two models)."""
    rows = [
        [
            r.population,
            "bits, half-A minus half-B models (neither saw them; near 0)",
            r.n,
            _of_summary(r.a_minus_b_mean, r.a_minus_b_se, r.n, level),
        ]
        for r in population_check.itertuples()
    ]
    lines = ["## Scores before unlearning", ""]
    lines += table(["examples", "statistic", "n", f"mean [{percent(level)} interval]"], rows)
    lines += [
        "",
        "Per kind and insertion count: memorisation (bits, out-models minus in-models); rank exposure "
        "against the kind's population and the share at its ceiling, log2(|R| + 1) (more likely than every "
        "reference: the rank form cannot tell these apart; the skew-normal form can); and the share "
        "extracted, i.e. whose greedy translation is the target exactly, under the in-models (which saw it) "
        "and under the out-models (which did not).",
        "",
    ]
    rows = []
    for r in score_groups.itertuples():
        kind = kinds.of(r.kind)
        mem = _of_summary(r.mem_mean, r.mem_se, r.n, level)
        rows.append(
            [
                f"{kind.label} ({kind.description})",
                f"{r.repetitions}x",
                r.n,
                mem,
                number(r.exposure_rank_mean),
                number(r.exposure_skewnorm_mean),
                f"{r.at_ceiling:.0%}",
                number(r.extracted_in),
                number(r.extracted_out),
            ]
        )
    return lines + table(
        [
            "kind",
            "inserted",
            "n",
            f"memorisation [{percent(level)} interval]",
            "rank exposure",
            "skew-normal exposure",
            "at the rank ceiling",
            "extracted (in-models)",
            "extracted (out-models)",
        ],
        rows,
    )


def calibration_section(calibrations: pd.DataFrame, alpha: float, level: float) -> list[str]:
    lines = [
        "## Calibrated test",
        "",
        f"An example is indistinguishable from never trained at a step when its GenEx lies in the central "
        f"{1 - alpha:.0%} band of never-trained models' disagreement; a set of n examples counts as "
        f"unlearnt when at least the {alpha:g}-quantile of Binomial(n, {1 - alpha:g}) of them are "
        f"({calibration.unlearnt_count(10, alpha)} of 10). False-positive rate: share of held-out population "
        "members outside the band (should be near alpha).",
        "",
    ]
    return lines + table(
        ["kind", "mode", "band", "fit / held out", f"false-positive rate [{percent(level)}]"],
        [
            [
                r.kind,
                r.mode,
                f"[{r.band_low:.3f}, {r.band_high:.3f}]",
                f"{r.n_fit} / {r.n_holdout}",
                with_interval(r.fpr, r.fpr_low, r.fpr_high, 3),
            ]
            for r in calibrations.itertuples()
        ],
    )


def claims_section(claims: pd.DataFrame, level: float, n_resamples: int, conditional_on: str) -> list[str]:
    """The claims table, without a heading (the summary and claims.md give it theirs)."""
    lines = [
        f"Each claim as one contrast with its {percent(level)} t interval (Welch degrees of freedom, within the "
        f"quantity's range; for BLEU the variance over {n_resamples} paired resamples of the test sentences is "
        f"added) and two verdicts: from the interval alone, and after Holm's adjustment over the rows of each "
        f"method and batch size (family-wise {1 - level:.0%}). supported: the interval excludes 0 in the claimed "
        f"direction; contradicted: it excludes 0 the other way; inconclusive: it contains 0. Intervals: "
        f"{conditional_on}.",
        "",
    ]
    return lines + table(
        [
            "claim",
            "method",
            "batch",
            "kind",
            "inserted",
            "statistic",
            "claimed",
            "estimate",
            f"{percent(level)} interval",
            "forget sets",
            "verdict",
            "verdict (Holm)",
            "note",
        ],
        [
            [
                r.claim,
                r.method,
                r.batch,
                r.kind,
                r.repetitions,
                r.statistic,
                r.claimed,
                number(r.estimate, QUANTITIES[r.quantity].digits),
                f"[{number(r.low, QUANTITIES[r.quantity].digits)}, {number(r.high, QUANTITIES[r.quantity].digits)}]",
                f"{r.n_first}" + (f" vs {r.n_second}" if r.n_second else ""),
                f"**{r.verdict}**",
                f"**{r.verdict_holm}**",
                r.note,
            ]
            for r in claims.itertuples()
        ],
    )


def groups_section(group_table: pd.DataFrame, tau: float, level: float, conditional_on: str) -> list[str]:
    lines = [
        f"## By kind and bucket (mean [{percent(level)} interval] over replicate forget sets and seeds)",
        "",
        f"Intervals: {conditional_on}.",
        "",
        f"A set is unlearnt by the strict test, the specific test, or the tau rule (mean GenEx <= {tau} bits), "
        "at the first step (every step is traced). Steps and costs by a rule are read at that step, over the "
        "sets that rule had something to unlearn in (not unlearnt at step 0: 'detectable'); a set never "
        "unlearnt within the run is read at the last step (a lower bound on its steps) and counted as never "
        "unlearnt.",
        "",
    ]
    return lines + table(
        [
            "method",
            "batch",
            "kind",
            "grouping",
            "bucket",
            "units",
            "detectable at step 0 (strict / specific / tau)",
            "never unlearnt (strict / specific / tau)",
            *(QUANTITIES[q].label for q in GROUP_QUANTITIES),
        ],
        [
            [
                r.method,
                r.batch,
                r.kind,
                r.grouping,
                r.bucket,
                r.n_units,
                f"{r.detectable} / {r.detectable_specific} / {r.detectable_tau}",
                f"{r.censored} / {r.censored_specific} / {r.censored_tau}",
                *(
                    with_interval(getattr(r, q), getattr(r, f"{q}_low"), getattr(r, f"{q}_high"), QUANTITIES[q].digits)
                    for q in GROUP_QUANTITIES
                ),
            ]
            for r in group_table.itertuples()
        ],
    )


def metrics_section(metric_table: pd.DataFrame, level: float, conditional_on: str) -> list[str]:
    lines = [
        f"## Every metric (mean [{percent(level)} interval] over forget sets and seeds)",
        "",
        "Each registered metric of the forget set and the model (unlearn_study.metrics) at step 0, at the step "
        f"the set is unlearnt by the strict test (or the last step), and at the last evaluated step. Intervals: "
        f"{conditional_on}.",
        "",
    ]
    rows = []
    for r in metric_table.itertuples():
        metric = metrics.REGISTRY[r.metric]
        rows.append(
            [
                r.method,
                r.batch,
                r.kind,
                f"{metric.label} ({metric.unit})",
                r.n_units,
                *(
                    with_interval(
                        getattr(r, reading), getattr(r, f"{reading}_low"), getattr(r, f"{reading}_high"), metric.digits
                    )
                    for reading in METRIC_READINGS
                ),
            ]
        )
    return lines + table(["method", "batch", "kind", "metric", "units", *METRIC_READINGS.values()], rows)


def units_section(units: pd.DataFrame, signature: str) -> list[str]:
    lines = ["## Every unlearning run", "", f"BLEU signature: `{signature}`", ""]
    return lines + table(
        [
            "method",
            "batch",
            "forget set",
            "seed",
            "GenEx step 0 → last",
            "indistinguishable at step 0 (strict / specific)",
            "steps (strict)",
            "unlearnt until",
            "steps (specific)",
            "steps (tau)",
            "BLEU step 0",
            "BLEU drop (at unlearning / last)",
            "status",
        ],
        [
            [
                r.method,
                r.batch,
                r.forget_set,
                r.seed,
                f"{r.genex_step0:.1f} → {r.genex_final:.1f}",
                f"{r.share_step0:.0%} / {r.specific_share_step0:.0%}",
                number(r.steps_strict, 0) if not r.censored else "never",
                ("end" if r.stays_unlearnt else number(r.window_end, 0)) if not r.censored else "—",
                number(r.steps_specific, 0) if not r.censored_specific else "never",
                number(r.steps_tau, 0) if not r.censored_tau else "never",
                f"{r.bleu_step0:.2f}",
                f"{number(r.bleu_drop)} / {number(r.bleu_drop_final)}",
                r.status,
            ]
            for r in units.itertuples()
        ],
    )


def tests_section(power: pd.DataFrame, steps: pd.DataFrame, alpha: float) -> list[str]:
    """What each test can see before unlearning (its power), and how never-trained examples
    fare under each test as unlearning proceeds (the strict band's damage, the specific
    test's false-positive rate)."""
    lines = [
        "## The two tests: power, damage and false positives",
        "",
        "The strict test asks whether the model, on an example, is indistinguishable from a model that never "
        "saw it and was never damaged (a fixed band, fitted before unlearning); the specific test asks whether "
        "the model treats it as it treats never-trained examples of its kind at the same step (the band of "
        "their statistics under that model). Power: the share of candidates each test finds distinguishable "
        "before any unlearning; the rest have nothing a test could see to unlearn.",
        "",
    ]
    lines += table(
        ["kind", "inserted", "candidates", "strict test: distinguishable", "specific test: distinguishable"],
        [
            [r.kind, f"{r.repetitions}x", r.n, f"{r.strict_power:.0%}", f"{r.specific_power:.0%}"]
            for r in power.itertuples()
        ],
    )
    scheduled = steps[steps["trigger"].str.contains("schedule")]
    per_step = (
        scheduled.groupby(["kind", "step"])[["population_strict_share", "specific_fpr"]].mean().reset_index()
        if len(scheduled)
        else scheduled
    )
    lines += [
        "",
        "Never-trained population members (the evaluation sample) under the unlearnt model, per scheduled "
        "step, mean over units: inside the strict band (damage pushes them out), and outside the specific band "
        f"(held-out members: its false-positive rate, alpha = {alpha:g}).",
        "",
    ]
    return lines + table(
        ["kind", "step", "population inside the strict band", "specific test false-positive rate"],
        [[r.kind, r.step, f"{r.population_strict_share:.3f}", f"{r.specific_fpr:.3f}"] for r in per_step.itertuples()],
    )


def agreement_section(agree: pd.DataFrame) -> list[str]:
    lines = ["## RelEx as an approximation of GenEx", ""]
    return lines + table(
        ["method", "batch", "kind", "rows (example × step)", "Spearman ρ", "mean absolute error (bits)"],
        [[r.method, r.batch, r.kind, r.n, f"{r.spearman:.3f}", f"{r.mae:.2f}"] for r in agree.itertuples()],
    )


def environment_section(environment: dict) -> list[str]:
    return ["## Environment", "", *(f"- {k}: {v}" for k, v in sorted(environment.items()))]


def document(title: str, *sections: list[str]) -> str:
    """A markdown document: the title, then the sections separated by blank lines."""
    lines = [f"# {title}"]
    for section in sections:
        lines += ["", *section]
    return "\n".join(lines) + "\n"


def _estimate(row, column: str, digits: int = 2) -> str:
    return f"{with_interval(row[column], row[f'{column}_low'], row[f'{column}_high'], digits)} (n={row[f'{column}_n']})"


def audits_section(recovered: pd.DataFrame, members: pd.DataFrame, exploratory: pd.DataFrame, level: float) -> list:
    """Does it stay forgotten? Recovery under relearning and quantisation, membership
    audits, and the exploratory claims (docs/METHOD.md, *Audits*)."""
    interval = f"{percent(level)} interval"
    lines = [
        "## Does it stay forgotten?",
        "",
        "Audits of the unlearnt models (config `audits`; docs/METHOD.md, *Audits*). *Recovery*: the forget set's "
        "fall in bits beyond the never-trained population's (per token, scaled to each example's length), as a share "
        "of the GenEx unlearning removed; 1 = all of it back. *Controls*: the same measure on never-trained members "
        "held out of the population reference, near 0 by construction; — where unlearning removed no GenEx (a "
        "state reached at step 0). Rows: per kind over the units of one grouping "
        f"(and per insertion level of the repetition grouping), with {interval}s over units (t, within range).",
        "",
    ]
    if len(recovered):
        last = recovered.groupby(["audit", "variant"])["step"].transform("max")
        recovered = recovered[recovered["step"] == last]  # every relearning step: the figure and the tables
        lines += [
            "### Relearning and quantisation",
            "",
            "At the last relearning step (every step: `summary/audit_recovery_groups.parquet` and the figure).",
            "",
        ]
        lines += table(
            [
                "method",
                "batch",
                "state",
                "audit",
                "variant",
                "relearning step",
                "kind",
                "inserted",
                "recovery",
                "controls",
                "excess bits",
            ],
            [
                [
                    r["method"],
                    r["batch"],
                    r["state"],
                    r["audit"],
                    r["variant"],
                    r["step"],
                    r["kind"],
                    r["level"],
                    _estimate(r, "recovery"),
                    _estimate(r, "control_recovery"),
                    _estimate(r, "excess_bits"),
                ]
                for _, r in recovered.iterrows()
            ],
        )
        lines.append("")
    if len(members):
        lines += [
            "### Membership audit",
            "",
            "LiRA's statistic, in the form of the calibrated test (pooled: out-model bits minus the audited model's, "
            "per square-rooted token; per_example: the same over the example's own out-model spread), of "
            "the forget set against never-trained population members: AUC and the true-positive rate at 1% "
            "false positives (0.5 and 0.01 = indistinguishable). The same for the set's trained neighbours that are "
            "candidates of its kind (they have out-models), and the loss-attack AUC (bits/token) of its neighbours "
            "that are retained training pairs (every model saw them) against its never-trained neighbours. State "
            "`before` is the model before unlearning.",
            "",
        ]
        lines += table(
            [
                "method",
                "batch",
                "state",
                "kind",
                "inserted",
                "AUC",
                "TPR at 1% FPR",
                "neighbours: AUC",
                "neighbours: TPR at 1% FPR",
                "retained neighbours: loss AUC",
            ],
            [
                [
                    r["method"],
                    r["batch"],
                    r["state"],
                    r["kind"],
                    r["level"],
                    _estimate(r, "auc"),
                    _estimate(r, "tpr_at_1pct_fpr"),
                    _estimate(r, "neighbour_auc"),
                    _estimate(r, "neighbour_tpr_at_1pct_fpr"),
                    _estimate(r, "retained_neighbour_loss_auc"),
                ]
                for _, r in members.iterrows()
            ],
        )
        lines.append("")
    if len(exploratory):
        lines += exploratory_claims_section(exploratory, level)
    return lines


def exploratory_claims_section(exploratory: pd.DataFrame, level: float) -> list:
    lines = [
        "### Exploratory claims (not the paper's)",
        "",
        f"Verdicts from the {percent(level)} interval and after Holm's adjustment over each method, batch size and "
        "audited state.",
        "",
    ]
    return lines + table(
        [
            "claim",
            "method",
            "batch",
            "state",
            "kind",
            "statement",
            "statistic",
            "estimate",
            f"{percent(level)} interval",
            "units",
            "verdict",
            "verdict (Holm)",
        ],
        [
            [
                r.claim,
                r.method,
                r.batch,
                r.rule,
                r.kind,
                r.statement,
                r.statistic,
                number(r.estimate, 3),
                f"[{number(r.low, 3)}, {number(r.high, 3)}]",
                f"{r.n_first}" + (f" vs {r.n_second}" if r.n_second else ""),
                f"**{r.verdict}**",
                f"**{r.verdict_holm}**",
            ]
            for r in exploratory.itertuples()
        ],
    )
