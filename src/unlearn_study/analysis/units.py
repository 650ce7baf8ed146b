"""Units: one row per unlearning run, derived from its per-step and per-example tables.

A *unit* is one unlearning run: a forget set (a replicate of its bucket) unlearnt by one
method at one batch size from one seed of its half's model. Per unit (:func:`per_unit`):

- the calibrated test: ``n_indistinguishable``/``indistinguishable_share`` per step
  (:func:`annotate`); ``steps_calibrated``: the first evaluated step at which the set
  counts as unlearnt (at least ``calibration.unlearnt_count`` of its examples
  indistinguishable from never trained), ``window_end`` the last step of the run of steps
  it stays so, ``stays_unlearnt`` whether that run lasts to the end;
- the tau rule: ``steps_tau``, the first step with mean GenEx <= tau; ``reached``, the
  share of examples whose own GenEx got there;
- ``unlearn_step``: the step the costs are read at: ``steps_calibrated``, or the last
  evaluated step when the set is never unlearnt (``censored``); ``unlearn_step_tau`` and
  ``censored_tau`` the same by the tau rule (every ``*_tau`` column is read there);
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

RUN = ["method", "batch"]  # how a forget set is unlearnt: every table and claim is split by these
UNIT = [*RUN, "forget_set", "seed"]
# When a set counts as unlearnt, and the suffix of the unit columns read at that step.
RULES = {"calibrated": "", "tau": "_tau"}


@dataclass(frozen=True)
class Quantity:
    """A unit-table column that groups and claims summarise."""

    label: str
    unit: str  # the unit of measurement: figures put quantities of one unit in one panel
    digits: int
    bounds: tuple[float | None, float | None] = (None, None)  # its range; differences of it have none
    metric: str | None = None  # the corpus metric whose drop it is (resampled over test sentences)
    step: str | None = None  # ... read at this unit column's step


STEPS = "steps"
RULE_LABELS = {"calibrated": "calibrated", "tau": "tau rule"}


def _drop(metric: str, step: str, where: str) -> Quantity:
    """The drop of corpus metric ``metric`` from step 0 to the step in unit column ``step``."""
    m = metrics.REGISTRY[metric]
    return Quantity(f"{m.label.removeprefix('test ')} drop {where}", m.unit, m.digits, metric=metric, step=step)


QUANTITIES = {
    **{
        f"unlearn_step{suffix}": Quantity(f"steps to unlearn ({RULE_LABELS[rule]})", STEPS, 1, (0.0, None))
        for rule, suffix in RULES.items()
    },
    **{
        f"{m.name}_drop{suffix}": _drop(m.name, f"unlearn_step{suffix}", f"at unlearning ({RULE_LABELS[rule]})")
        for rule, suffix in RULES.items()
        for m in corpus_scores()
    },
    "bleu_drop_fixed": _drop("bleu", "fixed_step", "at the fixed step"),
    "bleu_drop_final": _drop("bleu", "last_step", "at the last step"),
    **{
        f"neighbour_gap{suffix}": Quantity(
            f"trained − never-trained neighbours, Δ bits/token ({RULE_LABELS[rule]})", "Δ bits/token", 3
        )
        for rule, suffix in RULES.items()
    },
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
    """One row per unit (see the module's docstring)."""
    rows = []
    for key, run in steps.groupby(UNIT, sort=True):
        run = run.sort_values("step").reset_index(drop=True)
        step_values = run["step"].to_numpy()
        first, last = run.iloc[0], run.iloc[-1]
        ex = examples[(examples[UNIT] == key).all(axis=1)]
        wide = ex.pivot(index="step", columns="example_id", values="genex").reindex(step_values)
        per_example = core.steps_to_unlearn(step_values, wide.to_numpy(), tau)
        calibrated, window_end, stays = calibration.unlearnt_window(
            step_values, run["n_indistinguishable"].to_numpy(), int(first["n_examples"]), alpha
        )
        reached_at = {
            "calibrated": calibrated,
            "tau": float(core.steps_to_unlearn(step_values, run["genex_mean"].to_numpy(), tau)),
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
            "share_step0": first["indistinguishable_share"],
            "steps_calibrated": calibrated,
            "window_end": window_end,
            "stays_unlearnt": stays,
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
            row[f"neighbour_gap{suffix}"] = at(step, "neighbour_trained_delta_bpt") - at(
                step, "neighbour_unseen_delta_bpt"
            )
        row["neighbour_trained_delta"] = at(read_at["unlearn_step"], "neighbour_trained_delta_bpt")
        row["neighbour_unseen_delta"] = at(read_at["unlearn_step"], "neighbour_unseen_delta_bpt")
        row["retain_bpt_increase"] = at(read_at["unlearn_step"], "retain_bpt") - first["retain_bpt"]
        rows.append(row)
    return pd.DataFrame(rows)
