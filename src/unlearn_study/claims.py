"""The paper's claims as contrasts with 95% intervals and verdicts (docs/METHOD.md, *Claims*).

Each claim is a difference of unit means (or one mean) whose sign the paper predicts. A
verdict is ``supported`` when the interval excludes 0 in the claimed direction,
``contradicted`` when it excludes 0 the other way, ``inconclusive`` otherwise (and when a
group has fewer than two units), ``not assessed`` when the unlearnt models do not
translate (test BLEU below ``claims.min_base_bleu``): then the utility axis carries no
signal and no verdict would mean anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import stats
from .summary import RULES, Resamples, _number, markdown_table


@dataclass(frozen=True)
class Contrast:
    claim: str
    statement: str  # what the paper says
    quantity: str  # a column of the unit table (summary.per_unit)
    statistic: str  # what is compared, in words
    first: dict  # unit selection of the first group: column -> value
    second: dict | None  # None: the mean of the first group against 0
    claimed: str  # ">" or "<": the sign of first - second the paper predicts
    kind: str  # the kind(s) the row is about
    censored: str | None  # unit column: never unlearnt by the rule the quantity is read at
    rule: str  # when a set counts as unlearnt: "calibrated", "tau", or "fixed step" (C2)


RULE_NAMES = {"calibrated": "calibrated test", "tau": "mean GenEx <= tau"}


def contrasts(kinds) -> list[Contrast]:
    """Every claim contrast the study can compute with these kinds; the claims that read
    a cost "at the unlearning step" once for each rule of when a set is unlearnt."""
    found = []
    both = {"id", "ood"} <= set(kinds)
    for rule, suffix in RULES.items():
        name = RULE_NAMES[rule]
        if both:
            found += [
                Contrast(
                    "C1a",
                    "OOD examples need more steps to unlearn",
                    f"unlearn_step{suffix}",
                    f"steps to unlearn ({name}), OOD − ID",
                    {"kind": "ood"},
                    {"kind": "id"},
                    ">",
                    "ood vs id",
                    f"censored{suffix}",
                    rule,
                ),
                Contrast(
                    "C1b",
                    "unlearning OOD examples costs less utility",
                    f"bleu_drop{suffix}",
                    f"BLEU drop at unlearning ({name}), OOD − ID",
                    {"kind": "ood"},
                    {"kind": "id"},
                    "<",
                    "ood vs id",
                    f"censored{suffix}",
                    rule,
                ),
            ]
        for kind in kinds:
            found += [
                Contrast(
                    "C3a",
                    "more memorised examples hurt utility more",
                    f"bleu_drop{suffix}",
                    f"BLEU drop at unlearning ({name}), high − low memorisation",
                    {"kind": kind, "grouping": "memorisation", "bucket": "high"},
                    {"kind": kind, "grouping": "memorisation", "bucket": "low"},
                    ">",
                    kind,
                    f"censored{suffix}",
                    rule,
                ),
                Contrast(
                    "C3b",
                    "harder examples give a better trade-off",
                    f"bleu_drop{suffix}",
                    f"BLEU drop at unlearning ({name}), hard − easy difficulty",
                    {"kind": kind, "grouping": "difficulty", "bucket": "hard"},
                    {"kind": kind, "grouping": "difficulty", "bucket": "easy"},
                    "<",
                    kind,
                    f"censored{suffix}",
                    rule,
                ),
                Contrast(
                    "C4",
                    "similar trained examples are unlearnt too, never-trained ones barely",
                    f"neighbour_gap{suffix}",
                    f"Δ bits/token at unlearning ({name}), trained − never-trained neighbours",
                    {"kind": kind},
                    None,
                    ">",
                    kind,
                    f"censored{suffix}",
                    rule,
                ),
            ]
    if both:
        found.append(
            Contrast(
                "C2",
                "unlearning ID examples makes BLEU decay fast",
                "bleu_drop_fixed",
                "BLEU drop after claims.fixed_step steps, ID − OOD",
                {"kind": "id"},
                {"kind": "ood"},
                ">",
                "id vs ood",
                None,
                "fixed step",
            )
        )
    order = {"C1a": 0, "C1b": 1, "C2": 2, "C3a": 3, "C3b": 4, "C4": 5}
    return sorted(found, key=lambda c: order[c.claim])  # stable: the calibrated rule before the tau rule


def _select(units: pd.DataFrame, method: str, selection: dict) -> np.ndarray:
    mask = (units["method"] == method).to_numpy()
    for column, value in selection.items():
        mask &= (units[column].astype(str) == str(value)).to_numpy()
    return mask


def table(boot: Resamples, min_base_bleu: float, base_bleu: float) -> pd.DataFrame:
    """One row per claim contrast, method and kind."""
    units, rows = boot.units, []
    kinds = sorted(units["kind"].unique())
    for method in sorted(units["method"].unique()):
        for c in contrasts(kinds):
            first = _select(units, method, c.first)
            second = _select(units, method, c.second) if c.second is not None else None
            result = boot.contrast(c.quantity, first, second)
            n_first = int(boot.usable(c.quantity, first).sum())
            n_second = int(boot.usable(c.quantity, second).sum()) if second is not None else 0
            used = first | (second if second is not None else False)
            censored = int(units.loc[used, c.censored].sum()) if c.censored else 0
            verdict, notes = stats.verdict(result["low"], result["high"], c.claimed), []
            if n_first < 2 or (second is not None and n_second < 2):
                notes.append("fewer than 2 forget sets in a group")
            if censored:
                notes.append(f"{censored} set(s) never unlearnt: read at the last step")
            if base_bleu < min_base_bleu:
                verdict = "not assessed"
                notes.append(f"base BLEU {base_bleu:.2f} < claims.min_base_bleu {min_base_bleu}")
            rows.append(
                {
                    "claim": c.claim,
                    "method": method,
                    "kind": c.kind,
                    "statement": c.statement,
                    "rule": c.rule,
                    "statistic": c.statistic,
                    "claimed": f"{c.claimed} 0",
                    **result,
                    "level": boot.level,
                    "n_first": n_first,
                    "n_second": n_second,
                    "censored": censored,
                    "verdict": verdict,
                    "note": "; ".join(notes),
                }
            )
    return pd.DataFrame(rows)


def markdown(claims: pd.DataFrame, level: float, n_resamples: int) -> list[str]:
    lines = [
        "## Claims",
        "",
        f"Each claim as one contrast, with its {level:.0%} bootstrap interval ({n_resamples} resamples of the "
        "replicate forget sets and seeds in each group, and of the test sentences for BLEU, paired). "
        "supported: the interval excludes 0 in the claimed direction; contradicted: it excludes 0 the other "
        "way; inconclusive: it contains 0.",
        "",
    ]
    lines += markdown_table(
        [
            "claim",
            "method",
            "kind",
            "statistic",
            "claimed",
            "estimate",
            f"{level:.0%} interval",
            "forget sets",
            "verdict",
            "note",
        ],
        [
            [
                r.claim,
                r.method,
                r.kind,
                r.statistic,
                r.claimed,
                _number(r.estimate),
                f"[{_number(r.low)}, {_number(r.high)}]",
                f"{r.n_first}" + (f" vs {r.n_second}" if r.n_second else ""),
                f"**{r.verdict}**",
                r.note,
            ]
            for r in claims.itertuples()
        ],
    )
    return lines
