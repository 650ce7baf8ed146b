"""The study's summary over every unlearning run (docs/METHOD.md, *Outputs*).

A *unit* is one unlearning run: a forget set (a replicate of its bucket) unlearnt by one
method from one seed of its half's model. Per unit (``per_unit``):

- the calibrated test: ``n_indistinguishable``/``indistinguishable_share`` per step;
  ``steps_calibrated``: the first evaluated step at which the set counts as unlearnt
  (at least ``calibration.unlearnt_count`` of its examples indistinguishable from never
  trained), ``window_end`` the last step of the run of steps it stays so,
  ``stays_unlearnt`` whether that run lasts to the end;
- the tau rule: ``steps_tau``, the first step with mean GenEx <= tau; ``reached``, the
  share of examples whose own GenEx got there;
- ``unlearn_step``: the step the costs are read at: ``steps_calibrated``, or the last
  step when the set is never unlearnt (``censored``); ``unlearn_step_tau`` and
  ``censored_tau`` the same by the tau rule (every ``*_tau`` column is read there);
- ``bleu_drop``/``chrf_drop``: step-0 score minus the score at ``unlearn_step``;
  ``bleu_drop_fixed``: the same at ``claims.fixed_step``; ``*_final`` at the last step;
- ``neighbour_gap``: at ``unlearn_step``, the change of bits/token of trained neighbours
  minus that of never-trained neighbours.

Every mean comes with a 95% bootstrap interval over units (``stats``), and BLEU/chrF
ones also over test sentences (paired: one resample of sentences for every unit and step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import calibration, examples, metrics, stats

UNIT = ["method", "forget_set", "seed"]
# When a set counts as unlearnt, and the suffix of the unit columns read at that step.
RULES = {"calibrated": "", "tau": "_tau"}
BLEU_QUANTITIES = {
    **{
        f"{metric}_drop{suffix}": (metric, f"unlearn_step{suffix}")
        for suffix in RULES.values()
        for metric in ("bleu", "chrf")
    },
    "bleu_drop_fixed": ("bleu", "fixed_step"),
    "bleu_drop_final": ("bleu", "last_step"),
}


def annotate(steps: pd.DataFrame, examples: pd.DataFrame, table: pd.DataFrame, calibrations: pd.DataFrame):
    """Add the calibrated test to the per-example rows (``indistinguishable``) and its
    counts to the per-step rows (``n_indistinguishable``, ``indistinguishable_share``)."""
    by_kind = calibrations.set_index("kind").to_dict("index")
    out_seeds = table.set_index("example_id")[["bits_out_mean", "bits_out_sd"]]
    examples = examples.join(out_seeds, on="example_id")
    examples["indistinguishable"] = False
    for kind, rows in examples.groupby("kind"):
        examples.loc[rows.index, "indistinguishable"] = calibration.indistinguishable(rows, {**by_kind[kind]})
    counts = (
        examples.groupby([*UNIT, "step"])["indistinguishable"]
        .agg(["sum", "size"])
        .rename(columns={"sum": "n_indistinguishable", "size": "n_examples"})
        .reset_index()
    )
    steps = steps.merge(counts, on=[*UNIT, "step"], how="left", validate="one_to_one")
    steps["indistinguishable_share"] = steps["n_indistinguishable"] / steps["n_examples"]
    return steps, examples


def per_unit(steps: pd.DataFrame, examples: pd.DataFrame, tau: float, alpha: float, fixed_step: int) -> pd.DataFrame:
    rows = []
    for key, run in steps.groupby(UNIT, sort=True):
        run = run.sort_values("step").reset_index(drop=True)
        step_values = run["step"].to_numpy()
        first, last = run.iloc[0], run.iloc[-1]
        ex = examples[(examples[UNIT] == key).all(axis=1)]
        wide = ex.pivot(index="step", columns="example_id", values="genex").reindex(step_values)
        per_example = metrics.steps_to_unlearn(step_values, wide.to_numpy(), tau)
        calibrated, window_end, stays = calibration.unlearnt_window(
            step_values, run["n_indistinguishable"].to_numpy(), int(first["n_examples"]), alpha
        )
        reached_at = {
            "calibrated": calibrated,
            "tau": float(metrics.steps_to_unlearn(step_values, run["genex_mean"].to_numpy(), tau)),
        }
        read_at = {"fixed_step": float(fixed_step), "last_step": float(last["step"])}
        for rule, suffix in RULES.items():
            read_at[f"unlearn_step{suffix}"] = (
                reached_at[rule] if np.isfinite(reached_at[rule]) else read_at["last_step"]
            )

        def at(step, column, run=run):
            match = run.loc[run["step"] == step, column]
            return float(match.iloc[0]) if len(match) else np.nan

        row = {
            **dict(zip(UNIT, key, strict=True)),
            **{c: first[c] for c in ("kind", "grouping", "bucket", "replicate", "half")},
            "status": last["status"],
            "n_examples": int(first["n_examples"]),
            "genex_step0": first["genex_mean"],
            "genex_final": last["genex_mean"],
            "exposure_rank_step0": first["exposure_rank_mean"],
            "exposure_rank_final": last["exposure_rank_mean"],
            "share_step0": first["indistinguishable_share"],
            "steps_calibrated": calibrated,
            "window_end": window_end,
            "stays_unlearnt": stays,
            "steps_tau": reached_at["tau"],
            "reached": float(np.isfinite(per_example).mean()),
            **read_at,
            "bleu_step0": first["bleu"],
            "chrf_step0": first["chrf"],
            **{name: first[metric] - at(read_at[step], metric) for name, (metric, step) in BLEU_QUANTITIES.items()},
        }
        for rule, suffix in RULES.items():
            step = read_at[f"unlearn_step{suffix}"]
            row[f"censored{suffix}"] = not np.isfinite(reached_at[rule])
            row[f"neighbour_gap{suffix}"] = at(step, "neighbour_trained_delta_bpt") - at(
                step, "neighbour_unseen_delta_bpt"
            )
        row["neighbour_trained_delta"] = at(read_at["unlearn_step"], "neighbour_trained_delta_bpt")
        row["neighbour_unseen_delta"] = at(read_at["unlearn_step"], "neighbour_unseen_delta_bpt")
        row["retain_bpt_increase"] = at(read_at["unlearn_step"], "retain_bpt") - first["retain_bpt"]
        rows.append(row)
    units = pd.DataFrame(rows)
    return units


@dataclass
class Resamples:
    """Each unit quantity's values in every bootstrap resample of the test sentences:
    ``values[q]`` is ``(n_resamples, n_units)`` for BLEU/chrF quantities (recomputed on
    resampled sentences), ``(n_units,)`` for the others. ``rng`` draws the units."""

    units: pd.DataFrame
    values: dict
    n: int
    level: float
    rng: np.random.Generator

    def usable(self, quantity: str, members) -> np.ndarray:
        """``members`` (a boolean mask of units) whose ``quantity`` is defined."""
        values = self.values[quantity]
        finite = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=0)
        return np.asarray(members) & finite

    def samples(self, quantity: str, members) -> np.ndarray | None:
        """Bootstrap distribution of the mean of ``quantity`` over ``members`` (None: < 2 units)."""
        members = self.usable(quantity, members)
        if members.sum() < 2:
            return None
        return stats.resampled_means(self.values[quantity][..., members], self.rng, self.n)

    def interval_of_mean(self, quantity: str, members) -> tuple[float, float]:
        samples = self.samples(quantity, members)
        return stats.interval(samples, self.level) if samples is not None else (np.nan, np.nan)

    def contrast(self, quantity: str, first, second=None) -> dict:
        """Estimate and interval of mean(first) - mean(second), or of mean(first) alone."""
        estimate = float(self.units.loc[self.usable(quantity, first), quantity].mean())
        samples = self.samples(quantity, first)
        if second is not None:
            estimate -= float(self.units.loc[self.usable(quantity, second), quantity].mean())
            other = self.samples(quantity, second)
            samples = samples - other if samples is not None and other is not None else None
        low, high = stats.interval(samples, self.level) if samples is not None else (np.nan, np.nan)
        return {"estimate": estimate, "low": low, "high": high}


def resamples(
    units: pd.DataFrame, translations: pd.DataFrame, references: list[str], n: int, level: float, seed: int
) -> Resamples:
    """Resample the test sentences once (``n`` times) and compute every unit's BLEU/chrF
    drops on each resample from per-sentence statistics (paired bootstrap)."""
    rng = np.random.default_rng(seed)
    weights = stats.sentence_weights(rng, len(references), n)
    cache: dict = {}

    def statistics(key, step):
        if (key, step) not in cache:
            rows = translations[(translations[UNIT] == key).all(axis=1) & (translations["step"] == step)]
            cache[(key, step)] = stats.sentence_statistics(
                rows.sort_values("sentence")["hypothesis"].tolist(), references
            )
        return cache[(key, step)]

    values = {q: units[q].to_numpy(dtype=np.float64) for q in units.columns if units[q].dtype.kind in "fib"}
    for quantity, (metric, step_column) in BLEU_QUANTITIES.items():
        column = np.full((n, len(units)), np.nan)
        for i, unit in enumerate(units.itertuples()):
            key, step = (unit.method, unit.forget_set, unit.seed), getattr(unit, step_column)
            if not np.isfinite(step):
                continue
            score = stats.SCORERS[metric]
            column[:, i] = score(weights @ statistics(key, 0.0)[metric]) - score(
                weights @ statistics(key, step)[metric]
            )
        values[quantity] = column
    return Resamples(units, values, n, level, rng)


GROUP_QUANTITIES = {
    "unlearn_step": "steps to unlearn (calibrated)",
    "bleu_drop": "BLEU drop at unlearning (calibrated)",
    "unlearn_step_tau": "steps to unlearn (tau rule)",
    "bleu_drop_tau": "BLEU drop at unlearning (tau rule)",
    "bleu_drop_fixed": "BLEU drop at the fixed step",
    "neighbour_gap": "trained − never-trained neighbours, Δ bits/token (calibrated)",
}


def groups(boot: Resamples) -> pd.DataFrame:
    """Mean and 95% interval of the main quantities per method and kind, and per method,
    kind and bucket (over replicates and seeds; BLEU also over test sentences)."""
    units, rows = boot.units, []
    for keys, members in [
        *units.groupby(["method", "kind"]).groups.items(),
        *units.groupby(["method", "kind", "grouping", "bucket"]).groups.items(),
    ]:
        mask = units.index.isin(members)
        row = dict(zip(["method", "kind", "grouping", "bucket"], keys, strict=False))
        row.setdefault("grouping", "all")
        row.setdefault("bucket", "all")
        row["n_units"] = int(mask.sum())
        for suffix in RULES.values():
            row[f"censored{suffix}"] = int(units.loc[mask, f"censored{suffix}"].sum())
        for quantity in GROUP_QUANTITIES:
            low, high = boot.interval_of_mean(quantity, mask)
            row.update(
                {quantity: float(units.loc[mask, quantity].mean()), f"{quantity}_low": low, f"{quantity}_high": high}
            )
        rows.append(row)
    return pd.DataFrame(rows)


def agreement(examples: pd.DataFrame) -> pd.DataFrame:
    """How well RelEx tracks GenEx over all (example, step) rows, per method and kind."""
    rows = []
    for (method, kind), group in examples.groupby(["method", "kind"]):
        rows.append(
            {
                "method": method,
                "kind": kind,
                "n": len(group),
                **metrics.agreement(group["relex"].to_numpy(), group["genex"].to_numpy()),
            }
        )
    return pd.DataFrame(rows)


def models(trainings: dict, base_evaluations: dict, references: list[str]) -> pd.DataFrame:
    """The unlearnt models before unlearning: test BLEU/chrF and how their training ended.
    ``trainings[(half, seed)]``: training summary; ``base_evaluations[(half, seed)]``:
    the base evaluation table (test hypotheses)."""
    import sacrebleu

    rows = []
    for (half, seed), training in sorted(trainings.items()):
        evaluation = base_evaluations[(half, seed)]
        hypotheses = evaluation.loc[evaluation["part"] == "test", "hypothesis"].tolist()
        rows.append(
            {
                "half": half,
                "seed": seed,
                "bleu": sacrebleu.BLEU().corpus_score(hypotheses, [references]).score,
                "chrf": sacrebleu.CHRF().corpus_score(hypotheses, [references]).score,
                **{
                    k: training[k] for k in ("stopped_by", "epochs_trained", "updates", "best_epoch", "best_valid_loss")
                },
            }
        )
    return pd.DataFrame(rows)


def _number(value, digits: int = 2) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _with_interval(value, low, high, digits: int = 2) -> str:
    if not np.isfinite(low):
        return _number(value, digits)
    return f"{_number(value, digits)} [{_number(low, digits)}, {_number(high, digits)}]"


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def models_markdown(model_table: pd.DataFrame, min_bleu: float) -> list[str]:
    lines = ["## The unlearnt models before unlearning", ""]
    lines += markdown_table(
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
                _number(r.best_valid_loss, 3),
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


def scores_markdown(score_summary: dict) -> list[str]:
    """The scores the forget sets are chosen by, with normal 95% intervals (mean ± 1.96
    standard errors; every group has at least 30 members in a study-sized config)."""

    def row(label: str, what: str, prefix: str, stat: str) -> list:
        mean, se = score_summary[f"{prefix}.{stat}_mean"], score_summary[f"{prefix}.{stat}_se"]
        return [label, what, score_summary[f"{prefix}.n"], _with_interval(mean, mean - 1.96 * se, mean + 1.96 * se)]

    rows = []
    for kind in examples.CANDIDATE_KINDS:
        population = examples.POPULATION_OF[kind]
        if f"{population}.n" in score_summary:
            rows.append(
                row(population, "bits, half-A minus half-B models (neither saw them; near 0)", population, "a_minus_b")
            )
    # examples.summary lists the candidate groups in order: id, then canaries by insertion count
    for prefix in (k.removesuffix(".n") for k in score_summary if k.endswith(".n") and "_population" not in k):
        label = prefix if prefix == "id" else f"ood, inserted {prefix.removeprefix('ood_r')}x"
        rows.append(row(label, "memorisation (bits, out-models minus in-models)", prefix, "mem"))
    lines = ["## Scores before unlearning", ""]
    return lines + markdown_table(["examples", "statistic", "n", "mean [95% interval]"], rows)


def markdown(
    units,
    group_table,
    agree,
    model_table,
    calibrations,
    claims_lines,
    tau,
    alpha,
    min_bleu,
    signature,
    environment: dict,
    score_summary: dict,
) -> str:
    lines = ["# Unlearning summary", "", *models_markdown(model_table, min_bleu), ""]
    lines += [*scores_markdown(score_summary), ""]
    lines += [
        "## Calibrated test",
        "",
        f"An example is indistinguishable from never trained at a step when its GenEx lies in the central "
        f"{1 - alpha:.0%} band of never-trained models' disagreement; a set of n examples counts as "
        f"unlearnt when at least the {alpha:g}-quantile of Binomial(n, {1 - alpha:g}) of them are "
        f"({calibration.unlearnt_count(10, alpha)} of 10). False-positive rate: share of held-out population "
        "members outside the band (should be near alpha).",
        "",
    ]
    lines += markdown_table(
        ["kind", "mode", "band", "fit / held out", "false-positive rate [95%]"],
        [
            [
                r.kind,
                r.mode,
                f"[{r.band_low:.3f}, {r.band_high:.3f}]",
                f"{r.n_fit} / {r.n_holdout}",
                _with_interval(r.fpr, r.fpr_low, r.fpr_high, 3),
            ]
            for r in calibrations.itertuples()
        ],
    )
    lines += ["", *claims_lines, ""]
    lines += [
        "## By kind and bucket (mean [95% interval] over replicate forget sets and seeds)",
        "",
        f"A set is unlearnt by the calibrated test, or by the tau rule (mean GenEx <= {tau} bits). Steps and "
        "costs are read at that step; a set never unlearnt within the run is read at the last step (a lower "
        "bound on its steps) and counted as never unlearnt.",
        "",
    ]
    lines += markdown_table(
        [
            "method",
            "kind",
            "grouping",
            "bucket",
            "units",
            "never unlearnt (calibrated / tau)",
            *GROUP_QUANTITIES.values(),
        ],
        [
            [
                r.method,
                r.kind,
                r.grouping,
                r.bucket,
                r.n_units,
                f"{r.censored} / {r.censored_tau}",
                *(
                    _with_interval(
                        getattr(r, q),
                        getattr(r, f"{q}_low"),
                        getattr(r, f"{q}_high"),
                        1 if q.startswith("steps") else 2 if "bleu" in q else 3,
                    )
                    for q in GROUP_QUANTITIES
                ),
            ]
            for r in group_table.itertuples()
        ],
    )
    lines += ["", "## Every unlearning run", "", f"BLEU signature: `{signature}`", ""]
    lines += markdown_table(
        [
            "method",
            "forget set",
            "seed",
            "GenEx step 0 → last",
            "indistinguishable at step 0",
            "steps (calibrated)",
            "unlearnt until",
            "steps (tau)",
            "BLEU step 0",
            "BLEU drop (at unlearning / last)",
            "status",
        ],
        [
            [
                r.method,
                r.forget_set,
                r.seed,
                f"{r.genex_step0:.1f} → {r.genex_final:.1f}",
                f"{r.share_step0:.0%}",
                _number(r.steps_calibrated, 0) if not r.censored else "never",
                ("end" if r.stays_unlearnt else _number(r.window_end, 0)) if not r.censored else "—",
                _number(r.steps_tau, 0),
                f"{r.bleu_step0:.2f}",
                f"{_number(r.bleu_drop)} / {_number(r.bleu_drop_final)}",
                r.status,
            ]
            for r in units.itertuples()
        ],
    )
    lines += ["", "## RelEx as an approximation of GenEx", ""]
    lines += markdown_table(
        ["method", "kind", "rows (example × step)", "Spearman ρ", "mean absolute error (bits)"],
        [[r.method, r.kind, r.n, f"{r.spearman:.3f}", f"{r.mae:.2f}"] for r in agree.itertuples()],
    )
    lines += ["", "## Environment", "", *(f"- {k}: {v}" for k, v in sorted(environment.items()))]
    return "\n".join(lines) + "\n"
