"""The paper's claims as contrasts with intervals and verdicts (docs/METHOD.md, *Claims*).

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

from unlearn_study.analysis import bootstrap
from unlearn_study.analysis.bootstrap import Resamples
from unlearn_study.analysis.units import RULES
from unlearn_study.study.kinds import ID, OOD


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


def _at_unlearning(rule: str, claim, statement, quantity, statistic, first, second, claimed, kind) -> Contrast:
    """A contrast read at the step a set counts as unlearnt by ``rule``: the unit columns
    of that rule (``quantity`` plus its suffix) and its never-unlearnt count."""
    suffix = RULES[rule]
    return Contrast(
        claim,
        statement,
        f"{quantity}{suffix}",
        statistic.format(rule=RULE_NAMES[rule]),
        first,
        second,
        claimed,
        kind,
        f"censored{suffix}",
        rule,
    )


def _bucket(kind: str, grouping: str, bucket: str) -> dict:
    return {"kind": kind, "grouping": grouping, "bucket": bucket}


def contrasts(kinds) -> list[Contrast]:
    """Every claim contrast the study can compute with these kinds; the claims that read
    a cost "at the unlearning step" once for each rule of when a set is unlearnt."""
    found = []
    both = {ID.name, OOD.name} <= set(kinds)
    ood, id_ = {"kind": OOD.name}, {"kind": ID.name}
    for rule in RULES:
        if both:
            found += [
                _at_unlearning(
                    rule,
                    "C1a",
                    "OOD examples need more steps to unlearn",
                    "unlearn_step",
                    "steps to unlearn ({rule}), OOD − ID",
                    ood,
                    id_,
                    ">",
                    f"{OOD.name} vs {ID.name}",
                ),
                _at_unlearning(
                    rule,
                    "C1b",
                    "unlearning OOD examples costs less utility",
                    "bleu_drop",
                    "BLEU drop at unlearning ({rule}), OOD − ID",
                    ood,
                    id_,
                    "<",
                    f"{OOD.name} vs {ID.name}",
                ),
            ]
        for kind in kinds:
            found += [
                _at_unlearning(
                    rule,
                    "C3a",
                    "more memorised examples hurt utility more",
                    "bleu_drop",
                    "BLEU drop at unlearning ({rule}), high − low memorisation",
                    _bucket(kind, "memorisation", "high"),
                    _bucket(kind, "memorisation", "low"),
                    ">",
                    kind,
                ),
                _at_unlearning(
                    rule,
                    "C3b",
                    "harder examples give a better trade-off",
                    "bleu_drop",
                    "BLEU drop at unlearning ({rule}), hard − easy difficulty",
                    _bucket(kind, "difficulty", "hard"),
                    _bucket(kind, "difficulty", "easy"),
                    "<",
                    kind,
                ),
                _at_unlearning(
                    rule,
                    "C4",
                    "similar trained examples are unlearnt too, never-trained ones barely",
                    "neighbour_gap",
                    "Δ bits/token at unlearning ({rule}), trained − never-trained neighbours",
                    {"kind": kind},
                    None,
                    ">",
                    kind,
                ),
            ]
    if both:
        found.append(
            Contrast(
                "C2",
                "unlearning ID examples makes BLEU decay fast",
                "bleu_drop_fixed",
                "BLEU drop after claims.fixed_step steps, ID − OOD",
                id_,
                ood,
                ">",
                f"{ID.name} vs {OOD.name}",
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
            missing = int(used.sum()) - n_first - n_second
            verdict, notes = bootstrap.verdict(result["low"], result["high"], c.claimed), []
            if n_first < 2 or (second is not None and n_second < 2):
                notes.append("fewer than 2 forget sets in a group")
            if censored:
                notes.append(f"{censored} set(s) never unlearnt: read at the last step")
            if missing:
                notes.append(f"{missing} run(s) never reached the step read (diverged): left out")
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
                    "quantity": c.quantity,
                    "claimed": f"{c.claimed} 0",
                    **result,
                    "level": boot.level,
                    "n_first": n_first,
                    "n_second": n_second,
                    "censored": censored,
                    "missing": missing,
                    "verdict": verdict,
                    "note": "; ".join(notes),
                }
            )
    return pd.DataFrame(rows)
