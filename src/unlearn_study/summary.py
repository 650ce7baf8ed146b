"""The study's summary over every unlearning run (METHOD.md, Outputs).

- ``steps_to_unlearn``: first evaluated step at which the forget set's mean GenEx is
  <= tau (NaN: never within the run); ``example_steps_median``: median over examples of
  each example's own first step with GenEx <= tau; ``reached``: share of examples that
  got there.
- ``bleu_drop``/``chrf_drop``: step-0 score minus the score at ``steps_to_unlearn``;
  ``*_drop_final``: the same at the last evaluated step. Neighbour changes are given
  at ``steps_to_unlearn`` (``*_at_unlearn``) and at the last step.
- Agreement of RelEx with GenEx over all (example, step) rows, per kind and method:
  Spearman's rho and the mean absolute error in bits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics


def per_forget_set(steps: pd.DataFrame, examples: pd.DataFrame, tau: float) -> pd.DataFrame:
    rows = []
    for (method, name), run in steps.groupby(["method", "forget_set"], sort=True):
        run = run.sort_values("step")
        step_values = run["step"].to_numpy()
        reached_at = float(metrics.steps_to_unlearn(step_values, run["genex_mean"].to_numpy(), tau))
        ex = examples[(examples["method"] == method) & (examples["forget_set"] == name)]
        wide = ex.pivot(index="step", columns="example_id", values="genex").reindex(step_values)
        per_example = metrics.steps_to_unlearn(step_values, wide.to_numpy(), tau)
        first, last = run.iloc[0], run.iloc[-1]
        at = run[run["step"] == reached_at].iloc[0] if not np.isnan(reached_at) else None
        rows.append(
            {
                "method": method,
                "forget_set": name,
                "kind": first["kind"],
                "grouping": first["grouping"],
                "bucket": first["bucket"],
                "status": last["status"],
                "genex_step0": first["genex_mean"],
                "genex_final": last["genex_mean"],
                "exposure_rank_step0": first["exposure_rank_mean"],
                "exposure_rank_final": last["exposure_rank_mean"],
                "steps_to_unlearn": reached_at,
                "example_steps_median": float(np.nanmedian(per_example)) if np.isfinite(per_example).any() else np.nan,
                "reached": float(np.isfinite(per_example).mean()),
                "bleu_step0": first["bleu"],
                "chrf_step0": first["chrf"],
                "bleu_drop": first["bleu"] - at["bleu"] if at is not None else np.nan,
                "chrf_drop": first["chrf"] - at["chrf"] if at is not None else np.nan,
                "bleu_drop_final": first["bleu"] - last["bleu"],
                "chrf_drop_final": first["chrf"] - last["chrf"],
                "test_bpt_increase_final": last["test_bpt"] - first["test_bpt"],
                "neighbour_trained_delta_at_unlearn": at["neighbour_trained_delta_bpt"] if at is not None else np.nan,
                "neighbour_unseen_delta_at_unlearn": at["neighbour_unseen_delta_bpt"] if at is not None else np.nan,
                "neighbour_trained_delta_final": last["neighbour_trained_delta_bpt"],
                "neighbour_unseen_delta_final": last["neighbour_unseen_delta_bpt"],
                "last_step": int(last["step"]),
            }
        )
    return pd.DataFrame(rows)


def agreement(examples: pd.DataFrame) -> pd.DataFrame:
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


def _fmt(value, digits: int = 1) -> str:
    return "never" if pd.isna(value) else f"{value:.{digits}f}"


def by_group(table: pd.DataFrame, steps: pd.DataFrame) -> str:
    """Markdown tables aggregating the forget sets the way the paper's claims compare them."""

    def row(name, rows):
        return (
            f"| {name} | {len(rows)} | {rows['steps_to_unlearn'].mean():.1f} | {rows['reached'].mean():.0%} | "
            f"{rows['bleu_drop'].mean():.2f} | {rows['bleu_drop_final'].mean():.2f} | "
            f"{rows['neighbour_trained_delta_at_unlearn'].mean():+.3f} | "
            f"{rows['neighbour_unseen_delta_at_unlearn'].mean():+.3f} |"
        )

    head = [
        "| group | forget sets | mean steps to unlearn (sets that got there) | examples reached | "
        "mean BLEU drop at unlearn | mean BLEU drop at last step | Δ bits/token trained neighbours (at unlearn) | "
        "Δ bits/token unseen neighbours (at unlearn) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines = ["## By kind and bucket", ""] + head
    for method, runs in table.groupby("method"):
        for kind, rows in runs.groupby("kind"):
            lines.append(row(f"{method}: {kind} (all)", rows))
        for (kind, grouping, bucket), rows in runs.groupby(["kind", "grouping", "bucket"], sort=False):
            lines.append(row(f"{method}: {kind} {grouping} {bucket}", rows))
    lines += ["", "## Test BLEU by step (mean over forget sets)", ""]
    pivot = steps.groupby(["method", "kind", "step"])["bleu"].mean().unstack("step")
    lines.append("| method | kind | " + " | ".join(f"step {c}" for c in pivot.columns) + " |")
    lines.append("|---|---|" + "---|" * len(pivot.columns))
    for (method, kind), values in pivot.iterrows():
        lines.append(f"| {method} | {kind} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    return "\n".join(lines) + "\n"


def markdown(table: pd.DataFrame, agree: pd.DataFrame, tau: float, signature: str, steps: pd.DataFrame) -> str:
    lines = [
        "# Unlearning summary",
        "",
        f"Steps to unlearn: first evaluated step with mean GenEx <= {tau} bits. "
        "BLEU/chrF drops are step-0 minus the score at that step (and at the last step).",
        f"BLEU signature: `{signature}`",
        "",
        "| method | forget set | GenEx step 0 → last | exposure step 0 → last | steps to unlearn | "
        "examples reached | BLEU step 0 | BLEU drop (at unlearn / last) | chrF drop (last) | "
        "Δ bits/token trained / unseen neighbours | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.method} | {r.forget_set} | {r.genex_step0:.1f} → {r.genex_final:.1f} | "
            f"{r.exposure_rank_step0:.2f} → {r.exposure_rank_final:.2f} | {_fmt(r.steps_to_unlearn, 0)} | "
            f"{r.reached:.0%} | {r.bleu_step0:.2f} | {_fmt(r.bleu_drop, 2)} / {r.bleu_drop_final:.2f} | "
            f"{r.chrf_drop_final:.2f} | "
            f"{r.neighbour_trained_delta_final:+.3f} / {r.neighbour_unseen_delta_final:+.3f} | "
            f"{r.status} |"
        )
    lines += [
        "",
        "## RelEx as an approximation of GenEx",
        "",
        "| method | kind | rows (example × step) | Spearman ρ | mean absolute error (bits) |",
        "|---|---|---|---|---|",
    ]
    for r in agree.itertuples():
        lines.append(f"| {r.method} | {r.kind} | {r.n} | {r.spearman:.3f} | {r.mae:.2f} |")
    return "\n".join(lines) + "\n\n" + by_group(table, steps)
