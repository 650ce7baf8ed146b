"""Units: one row per unlearning run, derived from its per-step and per-example tables.

A *unit* is one unlearning run: a forget set (a replicate of its bucket) unlearnt by one
method at one batch size from one seed of its half's model. Per unit (:func:`per_unit`):

- the two calibrated tests (:func:`annotate`, from the job's trace of every step): per
  step ``n_strict``/``strict_share`` and ``n_specific``/``specific_share``, the forget
  examples inside the strict band (never trained, never damaged) and inside the specific
  band (never-trained members under the same model at the same step);
  ``steps_strict``/``steps_specific``: the first step at which the set counts as unlearnt
  by that test (at least ``calibration.unlearnt_count`` of its examples inside),
  ``window_end`` the last step of the strict run of steps it stays so, ``stays_unlearnt``
  whether that run lasts to the end; ``detectable*``: False when the set already counts as
  unlearnt at step 0 (nothing the test can see to unlearn);
- the tau rule: ``steps_tau``, the first step with mean GenEx <= tau; ``reached``, the
  share of examples whose own GenEx got there;
- ``unlearn_step``: the step the costs are read at: ``steps_strict``, or the last
  evaluated step when the set is never unlearnt (``censored``); ``unlearn_step_specific``
  and ``unlearn_step_tau`` (with ``censored_*``) the same by the other rules, every
  ``*_specific``/``*_tau`` column being read there;
- ``bleu_drop``/``chrf_drop``: step-0 score minus the score at ``unlearn_step``;
  ``bleu_drop_fixed``: the same at ``claims.fixed_step``; ``*_final`` at the last step;
- ``neighbour_gap``: at ``unlearn_step``, the change of bits/token of trained neighbours
  minus that of never-trained neighbours;
- every registered metric (:mod:`unlearn_study.metrics`) at step 0 (``<name>_step0``),
  at ``unlearn_step`` (``<name>_at_unlearning``) and at the last evaluated step
  (``<name>_final``).

A unit that never reached a step (a diverged run stops early) has NaN for what is read
there: it is missing from that quantity, counted, not fatal. Pure functions on tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from unlearn_study import metrics
from unlearn_study.analysis import calibration
from unlearn_study.metrics import core
from unlearn_study.metrics.translation import corpus_scores
from unlearn_study.study import kinds
from unlearn_study.study.kinds import HALVES

RUN = ["method", "batch"]  # how a forget set is unlearnt: every table and claim is split by these
UNIT = [*RUN, "forget_set", "seed"]
# When a set counts as unlearnt, and the suffix of the unit columns read at that step:
# the strict test (indistinguishable from a model that never saw it and was never
# damaged), the specific test (treated as the same model treats never-trained examples),
# the tau rule (mean GenEx <= tau). docs/METHOD.md, *Calibrated tests*.
RULES = {"strict": "", "specific": "_specific", "tau": "_tau"}


@dataclass(frozen=True)
class Quantity:
    """A unit-table column that groups and claims summarise."""

    label: str
    unit: str  # the unit of measurement: figures put quantities of one unit in one panel
    digits: int
    bounds: tuple[float | None, float | None] = (None, None)  # its range; differences of it have none
    metric: str | None = None  # the corpus metric whose drop it is (resampled over test sentences)
    step: str | None = None  # ... read at this unit column's step
    rule: str | None = None  # read where this rule counts the set as unlearnt (only sets it had to unlearn)

    @property
    def detectable(self) -> str | None:
        """The unit column saying whether a set had something to unlearn by the rule."""
        return None if self.rule is None else f"detectable{RULES[self.rule]}"


STEPS = "steps"
RULE_LABELS = {"strict": "strict test", "specific": "specific test", "tau": "tau rule"}


def _drop(metric: str, step: str, where: str, rule: str | None = None) -> Quantity:
    """The drop of corpus metric ``metric`` from step 0 to the step in unit column ``step``."""
    m = metrics.REGISTRY[metric]
    label = f"{m.label.removeprefix('test ')} drop {where}"
    return Quantity(label, m.unit, m.digits, metric=metric, step=step, rule=rule)


QUANTITIES = {
    **{
        f"unlearn_step{suffix}": Quantity(f"steps to unlearn ({RULE_LABELS[rule]})", STEPS, 1, (0.0, None), rule=rule)
        for rule, suffix in RULES.items()
    },
    **{
        f"{m.name}_drop{suffix}": _drop(m.name, f"unlearn_step{suffix}", f"at unlearning ({RULE_LABELS[rule]})", rule)
        for rule, suffix in RULES.items()
        for m in corpus_scores()
    },
    "bleu_drop_fixed": _drop("bleu", "fixed_step", "at the fixed step"),
    "bleu_drop_final": _drop("bleu", "last_step", "at the last step"),
    **{
        f"neighbour_gap{suffix}": Quantity(
            f"trained − never-trained neighbours, Δ bits/token ({RULE_LABELS[rule]})", "Δ bits/token", 3, rule=rule
        )
        for rule, suffix in RULES.items()
    },
}


def annotate(steps: pd.DataFrame, trace: pd.DataFrame) -> pd.DataFrame:
    """Add to the full evaluations' rows the tests of the forget set at that step, from the
    every-step trace: ``n_strict``/``n_specific`` (examples indistinguishable by each
    test), ``n_examples`` and the shares."""
    counts = (
        trace.groupby([*UNIT, "step"])
        .agg(n_strict=("strict", "sum"), n_specific=("specific", "sum"), n_examples=("strict", "size"))
        .reset_index()
    )
    steps = steps.merge(counts, on=[*UNIT, "step"], how="left", validate="one_to_one")
    for test in ("strict", "specific"):
        steps[f"{test}_share"] = steps[f"n_{test}"] / steps["n_examples"]
    return steps


def first_steps(trace: pd.DataFrame, alpha: float, tau: float) -> pd.DataFrame:
    """Per unit and step of the trace: whether each rule counts the set as unlearnt."""
    per_step = (
        trace.groupby([*UNIT, "step"])
        .agg(n_strict=("strict", "sum"), n_specific=("specific", "sum"), n=("strict", "size"), genex=("genex", "mean"))
        .reset_index()
    )
    needed = per_step["n"].map(lambda n: calibration.unlearnt_count(int(n), alpha))
    return per_step.assign(
        strict=per_step["n_strict"] >= needed, specific=per_step["n_specific"] >= needed, tau=per_step["genex"] <= tau
    )


def step_shares(trace: pd.DataFrame) -> pd.DataFrame:
    """Per unit and step (every step): the share of the forget set each test finds
    indistinguishable from never trained, with the unit's labels (for figures)."""
    labels = ["kind", "grouping", "bucket", "half"]
    shares = trace.groupby([*UNIT, "step", *labels]).agg(
        strict_share=("strict", "mean"), specific_share=("specific", "mean"), genex_mean=("genex", "mean")
    )
    return shares.reset_index()


def per_unit(
    steps: pd.DataFrame, examples: pd.DataFrame, trace: pd.DataFrame, tau: float, alpha: float, fixed_step: int
) -> pd.DataFrame:
    """One row per unit (see the module's docstring): steps to unlearn by each rule, exact
    (the trace has every step), and what the full evaluations measured where it is read."""
    decided = first_steps(trace, alpha, tau)
    rows = []
    for key, run in steps.groupby(UNIT, sort=True):
        run = run.sort_values("step").reset_index(drop=True)
        first, last = run.iloc[0], run.iloc[-1]
        traced = decided[(decided[UNIT] == key).all(axis=1)].sort_values("step")
        ex = trace[(trace[UNIT] == key).all(axis=1)]
        wide = ex.pivot(index="step", columns="example_id", values="genex").reindex(traced["step"])
        per_example = core.steps_to_unlearn(traced["step"].to_numpy(), wide.to_numpy(), tau)
        reached_at = {
            rule: float(traced.loc[traced[rule], "step"].iloc[0]) if traced[rule].any() else np.nan for rule in RULES
        }
        window_end, stays = np.nan, False
        if np.isfinite(reached_at["strict"]):
            after = traced[traced["step"] >= reached_at["strict"]]["strict"].to_numpy()
            length = int(np.argmin(after)) if not after.all() else len(after)
            window_end = float(traced[traced["step"] >= reached_at["strict"]]["step"].iloc[length - 1])
            stays = bool(after.all())
        last_step = float(traced["step"].max())
        read_at = {"fixed_step": float(fixed_step), "last_step": last_step}
        for rule, suffix in RULES.items():
            read_at[f"unlearn_step{suffix}"] = reached_at[rule] if np.isfinite(reached_at[rule]) else last_step

        def at(step, column, run=run):
            match = run.loc[run["step"] == step, column]
            return float(match.iloc[0]) if len(match) else np.nan

        at_zero = traced.iloc[0]
        row = {
            **dict(zip(UNIT, key, strict=True)),
            **{c: first[c] for c in ("kind", "grouping", "bucket", "replicate", "half")},
            "status": last["status"],
            "n_examples": int(at_zero["n"]),
            "share_step0": at_zero["n_strict"] / at_zero["n"],
            "specific_share_step0": at_zero["n_specific"] / at_zero["n"],
            "steps_strict": reached_at["strict"],
            "window_end": window_end,
            "stays_unlearnt": stays,
            "steps_specific": reached_at["specific"],
            "steps_tau": reached_at["tau"],
            "reached": float(np.isfinite(per_example).mean()),
            **read_at,
        }
        for metric in metrics.REGISTRY.values():
            row[f"{metric.name}_step0"] = first[metric.column]
            row[f"{metric.name}_at_unlearning"] = at(read_at["unlearn_step"], metric.column)
            row[f"{metric.name}_final"] = last[metric.column]
        for name, quantity in QUANTITIES.items():
            if quantity.metric is not None:
                column = metrics.REGISTRY[quantity.metric].column
                row[name] = first[column] - at(read_at[quantity.step], column)
        for rule, suffix in RULES.items():
            step = read_at[f"unlearn_step{suffix}"]
            row[f"censored{suffix}"] = not np.isfinite(reached_at[rule])
            # something to unlearn: the set was not already unlearnt, by this rule, before any step
            row[f"detectable{suffix}"] = not bool(at_zero[rule])
            row[f"neighbour_gap{suffix}"] = at(step, "neighbour_trained_delta_bpt") - at(
                step, "neighbour_unseen_delta_bpt"
            )
        row["neighbour_trained_delta"] = at(read_at["unlearn_step"], "neighbour_trained_delta_bpt")
        row["neighbour_unseen_delta"] = at(read_at["unlearn_step"], "neighbour_unseen_delta_bpt")
        row["retain_bpt_increase"] = at(read_at["unlearn_step"], "retain_bpt") - first["retain_bpt"]
        rows.append(row)
    return pd.DataFrame(rows)


def population_damage(
    population: pd.DataFrame,
    table: pd.DataFrame,
    calibrations: pd.DataFrame,
    trace: pd.DataFrame,
    holdout: float,
    seed: int,
) -> pd.DataFrame:
    """Per unit and full evaluation: how never-trained examples fare under each test. The
    evaluation sample's statistics g_t(r) = (LME_out(l(r)) - l_t(r)) / sqrt(|y| + 1) (the
    set's out-models, the other half's): ``population_strict_share``, the share inside the
    strict band (it falls as unlearning damages everything); ``specific_fpr``, the share of
    the held-out members outside the step's specific band (near alpha by design)."""
    evaluation = population[population["sample"] == "evaluation"]
    bands = trace.groupby([*UNIT, "step"])[["specific_low", "specific_high"]].first()
    by_id = table.set_index("example_id")
    strict = calibrations.set_index("kind")
    rows = []
    for key, group in evaluation.groupby([*UNIT, "step"], sort=True):
        members = by_id.loc[group["example_id"]]
        kind = kinds.POPULATIONS[members["kind"].iloc[0]].name
        half = trace.loc[(trace[UNIT] == key[:-1]).all(axis=1), "half"].iloc[0]
        other = HALVES[1 - HALVES.index(half)]
        bits = group["bpt"].to_numpy() * (members["target_len"].to_numpy() + 1.0)
        statistic = calibration.pooled_statistic(members[f"bits_{other}"].to_numpy() - bits, members["target_len"])
        _, held = calibration.split(kinds.population(table, kind).reset_index(drop=True), kind, holdout, seed)
        is_held = group["example_id"].isin(held["example_id"]).to_numpy()
        low, high = bands.loc[key]
        rows.append(
            {
                **dict(zip([*UNIT, "step"], key, strict=True)),
                "population_strict_share": float(
                    calibration.inside(statistic, strict.loc[kind, "band_low"], strict.loc[kind, "band_high"]).mean()
                ),
                "specific_fpr": float((~calibration.inside(statistic[is_held], low, high)).mean()),
                "n_held_out": int(is_held.sum()),
            }
        )
    return pd.DataFrame(rows)
