"""The paper's claims as contrasts with intervals and verdicts (docs/METHOD.md, *Claims*).

Each claim is a difference of unit means (or one mean) whose sign the paper predicts; the
claims that compare ID with OOD sets compare them at matched repetition levels (the
repetition grouping: ID inserted r times against OOD inserted r times), one row per level
and one pooled over the levels with equal weight. A
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

from unlearn_study.analysis import intervals
from unlearn_study.analysis.uncertainty import Uncertainty, verdict
from unlearn_study.analysis.units import QUANTITIES, RULES, RUN
from unlearn_study.study.kinds import DIFFICULTY, ID, MEMORISATION, OOD, REPETITION


@dataclass(frozen=True)
class Contrast:
    claim: str
    statement: str  # what the paper says
    quantity: str  # a column of the unit table (units.per_unit)
    statistic: str  # what is compared, in words
    first: tuple[dict, ...]  # unit selections (column -> value) whose means are averaged with equal weight
    second: tuple[dict, ...] | None  # the same for the second side; None: the first side against 0
    claimed: str  # ">" or "<": the sign of first - second the paper predicts
    kind: str  # the kind(s) the row is about
    repetitions: str  # the repetition level(s) compared: "4", "pooled (equal weight)", or "all"
    censored: str | None  # unit column: never unlearnt by the rule the quantity is read at
    rule: str  # when a set counts as unlearnt: "strict", "specific", "tau", or "fixed step" (C2)


RULE_NAMES = {"strict": "strict test", "specific": "specific test", "tau": "mean GenEx <= tau"}
POOLED = "pooled (equal weight)"
ALL = "all"


def _bucket(kind: str, grouping: str, bucket: str) -> dict:
    return {"kind": kind, "grouping": grouping, "bucket": bucket}


def matched_levels(units: pd.DataFrame) -> list[str]:
    """The repetition levels at which both kinds have forget sets of the repetition grouping."""
    of_grouping = units[units["grouping"] == REPETITION.name]
    found = [set(of_grouping.loc[of_grouping["kind"] == kind.name, "bucket"].astype(str)) for kind in (ID, OOD)]
    return sorted(found[0] & found[1], key=int)


def one_grouping(groupings) -> str | None:
    """The grouping that claims pooling a kind's sets read: one, so that no example (drawn
    into sets of several groupings from one half) counts twice. Repetition when there (its
    buckets are the matched levels), else difficulty, else memorisation; None if none."""
    preference = [REPETITION.name, DIFFICULTY.name, MEMORISATION.name]
    return next((g for g in preference if g in set(groupings)), None)


def _id_versus_ood(levels: list[str], grouping: str) -> list[tuple[str, tuple, tuple]]:
    """(repetitions, OOD side, ID side) of each ID-versus-OOD comparison: one per matched
    level and one pooled over the levels with equal weight; without matched levels, every
    set of ``grouping`` of each kind (insertion counts unmatched)."""
    if not levels:
        return [(ALL, ({"kind": OOD.name, "grouping": grouping},), ({"kind": ID.name, "grouping": grouping},))]
    by_level = [
        (level, (_bucket(OOD.name, REPETITION.name, level),), (_bucket(ID.name, REPETITION.name, level),))
        for level in levels
    ]
    pooled = (POOLED, tuple(s for _, (s,), _ in by_level), tuple(s for _, _, (s,) in by_level))
    return [*by_level, pooled] if len(levels) > 1 else by_level


def contrasts(kinds, levels: list[str] = (), groupings: dict | None = None) -> list[Contrast]:
    """Every claim contrast the study can compute with these kinds, matched repetition
    levels and groupings (``groupings[kind]``: the kind's groupings; default: repetition);
    the claims that read a cost "at the unlearning step" once for each rule of when a set
    is unlearnt. Each side of a contrast reads one grouping; ID against OOD one that both
    kinds have (no such rows when they share none)."""
    found = []
    groupings = groupings or {kind: {REPETITION.name} for kind in kinds}
    both = {ID.name, OOD.name} <= set(kinds)
    shared = one_grouping(set(groupings.get(ID.name, ())) & set(groupings.get(OOD.name, ())))
    comparisons = _id_versus_ood(list(levels), shared) if both and shared else []
    ood_vs_id, id_vs_ood = f"{OOD.name} vs {ID.name}", f"{ID.name} vs {OOD.name}"
    for rule in RULES:
        suffix, rule_name = RULES[rule], RULE_NAMES[rule]
        for repetitions, ood, id_ in comparisons:
            found += [
                Contrast(
                    "C1a",
                    "OOD examples need more steps to unlearn",
                    f"unlearn_step{suffix}",
                    f"steps to unlearn ({rule_name}), OOD − ID",
                    ood,
                    id_,
                    ">",
                    ood_vs_id,
                    repetitions,
                    f"censored{suffix}",
                    rule,
                ),
                Contrast(
                    "C1b",
                    "unlearning OOD examples costs less utility",
                    f"bleu_drop{suffix}",
                    f"BLEU drop at unlearning ({rule_name}), OOD − ID",
                    ood,
                    id_,
                    "<",
                    ood_vs_id,
                    repetitions,
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
                    f"BLEU drop at unlearning ({rule_name}), high − low memorisation",
                    (_bucket(kind, MEMORISATION.name, "high"),),
                    (_bucket(kind, MEMORISATION.name, "low"),),
                    ">",
                    kind,
                    ALL,
                    f"censored{suffix}",
                    rule,
                ),
                Contrast(
                    "C3b",
                    "harder examples give a better trade-off",
                    f"bleu_drop{suffix}",
                    f"BLEU drop at unlearning ({rule_name}), hard − easy difficulty",
                    (_bucket(kind, DIFFICULTY.name, "hard"),),
                    (_bucket(kind, DIFFICULTY.name, "easy"),),
                    "<",
                    kind,
                    ALL,
                    f"censored{suffix}",
                    rule,
                ),
                Contrast(
                    "C4",
                    "similar trained examples are unlearnt too, never-trained ones barely",
                    f"neighbour_gap{suffix}",
                    f"Δ bits/token at unlearning ({rule_name}), trained − never-trained neighbours",
                    ({"kind": kind, "grouping": one_grouping(groupings.get(kind, ()))},),
                    None,
                    ">",
                    kind,
                    ALL,
                    f"censored{suffix}",
                    rule,
                ),
            ]
    for repetitions, ood, id_ in comparisons:
        found.append(
            Contrast(
                "C2",
                "unlearning ID examples makes BLEU decay fast",
                "bleu_drop_fixed",
                "BLEU drop after claims.fixed_step steps, ID − OOD",
                id_,
                ood,
                ">",
                id_vs_ood,
                repetitions,
                None,
                "fixed step",
            )
        )
    order = {"C1a": 0, "C1b": 1, "C2": 2, "C3a": 3, "C3b": 4, "C4": 5}
    return sorted(found, key=lambda c: order[c.claim])  # stable: rules and levels keep their order


def _select(units: pd.DataFrame, run: dict, selection: dict) -> np.ndarray:
    mask = np.ones(len(units), dtype=bool)
    for column, value in {**run, **selection}.items():
        mask &= (units[column].astype(str) == str(value)).to_numpy()
    return mask


def table(boot: Uncertainty, min_base_bleu: float, base_bleu: float) -> pd.DataFrame:
    """One row per claim contrast, method, batch size and kind: estimate, interval and
    p-value, the verdict from the interval, and the verdict after Holm's adjustment over
    the rows of the method and batch size (family-wise level 1 - ``boot.level``)."""
    units, rows = boot.units, []
    kinds = sorted(units["kind"].unique())
    levels = matched_levels(units)
    for run_values in sorted(units[RUN].drop_duplicates().itertuples(index=False)):
        run = dict(zip(RUN, run_values, strict=True))
        family = []
        groupings = units.groupby("kind")["grouping"].agg(set).to_dict()
        for c in contrasts(kinds, levels, groupings):
            # a cost read where a rule counts the set as unlearnt: only sets with something to
            # unlearn by that rule (not already unlearnt before any step)
            spec = QUANTITIES[c.quantity]
            detectable = units[spec.detectable].to_numpy(bool) if spec.detectable else True
            first = [_select(units, run, s) & detectable for s in c.first]
            second = [_select(units, run, s) & detectable for s in c.second] if c.second is not None else None
            left_out = (
                int(
                    np.logical_or.reduce(
                        [_select(units, run, s) & ~detectable for s in c.first + (c.second or ())]
                    ).sum()
                )
                if spec.detectable
                else 0
            )
            result = boot.contrast(c.quantity, first, second)
            sides = [first, *([second] if second is not None else [])]
            counts = [[int(boot.usable(c.quantity, mask).sum()) for mask in side] for side in sides]
            n_first = sum(counts[0])
            n_second = sum(counts[1]) if second is not None else 0
            used = np.logical_or.reduce([mask for side in sides for mask in side])
            censored = int(units.loc[used, c.censored].sum()) if c.censored else 0
            missing = int(used.sum()) - n_first - n_second
            raw, notes = verdict(result["low"], result["high"], c.claimed), []
            if min(n for side in counts for n in side) < 2:
                notes.append("fewer than 2 forget sets in a group")
            if censored:
                notes.append(f"{censored} set(s) never unlearnt: read at the last step")
            if missing:
                notes.append(f"{missing} run(s) never reached the step read (diverged): left out")
            if left_out:
                notes.append(
                    f"{left_out} set(s) already unlearnt at step 0 by this rule (nothing detectable): left out"
                )
            if base_bleu < min_base_bleu:
                raw = "not assessed"
                notes.append(f"base BLEU {base_bleu:.2f} < claims.min_base_bleu {min_base_bleu}")
            family.append(
                {
                    "claim": c.claim,
                    **run,
                    "kind": c.kind,
                    "repetitions": c.repetitions,
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
                    "left_out": left_out,
                    "verdict": raw,
                    "note": "; ".join(notes),
                }
            )
        rejected = intervals.holm([r["p_value"] for r in family], 1 - boot.level)
        for row, reject in zip(family, rejected, strict=True):
            keep = reject or row["verdict"] == "not assessed"
            row["verdict_holm"] = row["verdict"] if keep else "inconclusive"
        rows += family
    return pd.DataFrame(rows)
