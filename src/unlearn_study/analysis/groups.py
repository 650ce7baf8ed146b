"""Group tables over units: means with intervals per method, kind and bucket; how RelEx
tracks GenEx; the unlearnt models before unlearning. Pure functions on tables."""

from __future__ import annotations

import pandas as pd

from unlearn_study.analysis.uncertainty import Uncertainty
from unlearn_study.analysis.units import QUANTITIES, RULES, RUN
from unlearn_study.metrics import core
from unlearn_study.metrics.translation import corpus_scores

# The quantities of the group table, in its column order.
GROUP_QUANTITIES = [
    "unlearn_step",
    "bleu_drop",
    "unlearn_step_specific",
    "bleu_drop_specific",
    "unlearn_step_tau",
    "bleu_drop_tau",
    "bleu_drop_fixed",
    "neighbour_gap",
]


def groups(boot: Uncertainty) -> pd.DataFrame:
    """Mean and interval of the main quantities per method, batch size and kind, and per
    method, batch size, kind and bucket (over replicates and seeds; BLEU also over test
    sentences)."""
    units, rows = boot.units, []
    for keys, members in [
        *units.groupby([*RUN, "kind"]).groups.items(),
        *units.groupby([*RUN, "kind", "grouping", "bucket"]).groups.items(),
    ]:
        mask = units.index.isin(members)
        row = dict(zip([*RUN, "kind", "grouping", "bucket"], keys, strict=False))
        row.setdefault("grouping", "all")
        row.setdefault("bucket", "all")
        row["n_units"] = int(mask.sum())
        for suffix in RULES.values():
            row[f"censored{suffix}"] = int(units.loc[mask, f"censored{suffix}"].sum())
            row[f"detectable{suffix}"] = int(units.loc[mask, f"detectable{suffix}"].sum())
        for quantity in GROUP_QUANTITIES:
            spec = QUANTITIES[quantity]
            # read at a rule's unlearning step: only the sets the rule had something to unlearn in
            members = mask & units[spec.detectable].to_numpy(bool) if spec.detectable else mask
            low, high = boot.interval_of_mean(quantity, members)
            row.update(
                {quantity: float(units.loc[members, quantity].mean()), f"{quantity}_low": low, f"{quantity}_high": high}
            )
            row[f"{quantity}_missing"] = int(members.sum() - boot.usable(quantity, members).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def agreement(examples: pd.DataFrame) -> pd.DataFrame:
    """How well RelEx tracks GenEx over all (example, step) rows, per method, batch size and kind."""
    rows = []
    for (method, batch, kind), group in examples.groupby([*RUN, "kind"]):
        rows.append(
            {
                "method": method,
                "batch": batch,
                "kind": kind,
                "n": len(group),
                **core.agreement(group["relex"].to_numpy(), group["genex"].to_numpy()),
            }
        )
    return pd.DataFrame(rows)


def models(trainings: dict, base_evaluations: dict, references: list[str]) -> pd.DataFrame:
    """The unlearnt models before unlearning: test BLEU/chrF and how their training ended.
    ``trainings[(half, seed)]``: training summary; ``base_evaluations[(half, seed)]``:
    the base evaluation table (test hypotheses)."""
    rows = []
    for (half, seed), training in sorted(trainings.items()):
        evaluation = base_evaluations[(half, seed)]
        hypotheses = evaluation.loc[evaluation["part"] == "test", "hypothesis"].tolist()
        rows.append(
            {
                "half": half,
                "seed": seed,
                **{m.name: m.corpus(hypotheses, references) for m in corpus_scores()},
                **{
                    k: training[k] for k in ("stopped_by", "epochs_trained", "updates", "best_epoch", "best_valid_loss")
                },
            }
        )
    return pd.DataFrame(rows)


METRIC_READINGS = {"step0": "step 0", "at_unlearning": "at unlearning (strict test)", "final": "last step"}


def metric_table(boot: Uncertainty) -> pd.DataFrame:
    """Every registered metric per method, batch size and kind, at step 0, at the unlearning step
    (calibrated) and at the last evaluated step: mean and interval over units."""
    from unlearn_study import metrics

    units, rows = boot.units, []
    for (method, batch, kind), members in units.groupby([*RUN, "kind"]).groups.items():
        mask = units.index.isin(members)
        for metric in metrics.REGISTRY.values():
            row = {"method": method, "batch": batch, "kind": kind, "metric": metric.name, "n_units": int(mask.sum())}
            for reading in METRIC_READINGS:
                column = f"{metric.name}_{reading}"
                low, high = boot.interval_of_mean(column, mask)
                row.update(
                    {reading: float(units.loc[mask, column].mean()), f"{reading}_low": low, f"{reading}_high": high}
                )
            rows.append(row)
    return pd.DataFrame(rows)
