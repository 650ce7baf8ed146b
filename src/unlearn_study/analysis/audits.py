"""Does it stay forgotten? Recovery, quantisation return and membership audits from the
audit jobs' tables (docs/METHOD.md, *Audits*).

**Recovery.** From the unlearnt model (state s) to a variant V (a relearning step, or
the weights quantised), example i's bits fall by ``rise_i = bits_s(i) - bits_V(i)``.
Never-trained population members rise too (general fitting, or general noise): their
mean rise per token over the *reference* members is ``rho``. Recovery is the forget
set's mean excess rise ``rise_i - rho (|y_i| + 1)`` as a share of the mean GenEx that
unlearning removed, ``bits_s(i) - bits_0(i)``. The same measure on *control* members
(never-trained population members held out of the reference, as many as the forget
set) is near zero by construction: it is the check that recovery is not an artefact.

**Membership.** LiRA's one-sided statistic with the study's in/out models: the
calibrated test's statistic of the kind (``analysis.calibration``), for forget examples
and never-trained population members alike (the likelihood ratio is monotone in it).
``pooled`` (one seed per half; LiRA's fixed variance): ``(bits_out(z) - bits(z)) /
sqrt(|y| + 1)``, z's out-models' bits against the audited model's, per square-rooted
token. ``per_example`` (several seeds per half; offline per-example LiRA): ``(mean_out(z)
- bits(z)) / (sd_out(z) sqrt(1 + 1/S))``, with z's own out-models' mean and standard
deviation over the S seeds (a population member's out-models are those of the half the
audited model is not from). Per unit: the AUC of forget against population,
and the share of the forget set above the population's 99th percentile (TPR at 1% FPR).
The forget set's trained neighbours that are candidates of its kind get the same
statistic; those that are retained training pairs have no out-model (every model
trained on them), so theirs is the loss attack, ``-bits/token``, against the
never-trained neighbours.

Intervals are the study's t intervals over units (``analysis.intervals``).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from unlearn_study.analysis import calibration, intervals
from unlearn_study.analysis.claims import one_grouping
from unlearn_study.analysis.uncertainty import verdict
from unlearn_study.analysis.units import UNIT

FPR = 0.01
UNIT_COLUMNS = [*UNIT, "kind", "grouping", "bucket"]


def _tokens(rows: pd.DataFrame) -> np.ndarray:
    return rows["target_len"].to_numpy(dtype=np.float64) + 1.0


def control_ids(population_ids, n: int) -> set:
    """The ``n`` population members held out as controls: the smallest CRC-32 of their
    ids (deterministic, independent of the models)."""
    ids = sorted(population_ids, key=lambda i: (zlib.crc32(str(i).encode()), str(i)))
    return set(ids[:n])


def _bits(evaluation: pd.DataFrame, group: str) -> pd.Series:
    rows = evaluation[evaluation["group"] == group]
    return rows.set_index("example_id")["bits"]


def recovery(original: pd.DataFrame, unlearnt: pd.DataFrame, variant: pd.DataFrame) -> dict:
    """Recovery of the forget set and of the controls from ``unlearnt`` to ``variant``
    (each one evaluation's rows of the audit examples table); ``original``: step 0."""
    forget = variant[(variant["group"] == "forget") & ~variant["relearnt_on"].astype(bool)]
    measured = forget["example_id"]
    tokens = forget.set_index("example_id")["target_len"].astype(float) + 1.0
    removed = (_bits(unlearnt, "forget") - _bits(original, "forget")).loc[measured]
    population = variant[variant["group"] == "population"].set_index("example_id")
    controls = control_ids(population.index, len(measured))
    reference = population.index[~population.index.isin(controls)]
    pop_rise = _bits(unlearnt, "population") - _bits(variant, "population")
    rho = float((pop_rise.loc[reference] / (population.loc[reference, "target_len"] + 1.0)).mean())
    excess = (_bits(unlearnt, "forget") - _bits(variant, "forget")).loc[measured] - rho * tokens.loc[measured]
    control_tokens = population.loc[sorted(controls), "target_len"] + 1.0
    control_excess = pop_rise.loc[sorted(controls)] - rho * control_tokens
    denominator = float(removed.mean())
    share = (lambda x: x / denominator) if denominator > 0 else (lambda x: np.nan)
    return {
        "removed_bits": denominator,
        "excess_bits": float(excess.mean()),
        "control_excess_bits": float(control_excess.mean()),
        "recovery": share(float(excess.mean())),
        "control_recovery": share(float(control_excess.mean())),
        "population_rise_per_token": rho,
        "n_measured": len(measured),
    }


def auc(positives, negatives) -> float:
    """P(positive > negative) + P(tie) / 2 (the Mann-Whitney AUC)."""
    positives, negatives = np.asarray(positives, float)[:, None], np.asarray(negatives, float)[None, :]
    if positives.size == 0 or negatives.size == 0:
        return np.nan
    return float(((positives > negatives) + 0.5 * (positives == negatives)).mean())


def lira_statistic(rows: pd.DataFrame, fit: dict) -> np.ndarray:
    """``fit``: the kind's calibration (``mode``, ``seeds_per_half``)."""
    if fit["mode"] == "per_example":
        return calibration.t_statistic(rows["bits_out_mean"], rows["bits_out_sd"], fit["seeds_per_half"], rows["bits"])
    return (rows["bits_out"].to_numpy(float) - rows["bits"].to_numpy(float)) / np.sqrt(_tokens(rows))


def roc_rows(examples: pd.DataFrame, fits: dict) -> pd.DataFrame:
    """The forget and population rows of the models before unlearning and at each state,
    with their LiRA ``statistic``: what the ROC figure pools. ``fits``: kind -> calibration."""
    rows = examples[examples["audit"].isin(["original", "unlearnt"]) & examples["group"].isin(["forget", "population"])]
    statistic = pd.Series(np.nan, index=rows.index)
    for kind, of_kind in rows.groupby("kind"):
        statistic.loc[of_kind.index] = lira_statistic(of_kind, fits[kind])
    return rows.assign(statistic=statistic)


def _loss(rows: pd.DataFrame) -> np.ndarray:
    return -(rows["bits"].to_numpy(float) / _tokens(rows))


def membership(evaluation: pd.DataFrame, kind: str, fit: dict) -> dict:
    """Of one evaluation of a unit of ``kind`` (``fit``: its calibration): AUC and TPR at
    1% FPR of the forget set against the population (LiRA statistic); the same for the
    trained neighbours that are candidates of ``kind`` (they have out-models); the
    loss-attack AUC of the trained neighbours that are retained training pairs against the
    never-trained neighbours."""
    group = evaluation["group"]
    population = lira_statistic(evaluation[group == "population"], fit)
    threshold = np.quantile(population, 1 - FPR, method="higher")
    forget = lira_statistic(evaluation[group == "forget"], fit)
    trained = evaluation[group == "neighbour_trained"]
    candidates = lira_statistic(trained[trained["example_kind"] == kind], fit)
    retained = trained[trained["example_kind"] == "retained"]
    none = np.nan
    return {
        "auc": auc(forget, population),
        "tpr_at_1pct_fpr": float(np.mean(forget > threshold)),
        "neighbour_auc": auc(candidates, population),
        "neighbour_tpr_at_1pct_fpr": float(np.mean(candidates > threshold)) if len(candidates) else none,
        "n_neighbours": len(candidates),
        "retained_neighbour_loss_auc": auc(_loss(retained), _loss(evaluation[group == "neighbour_unseen"])),
        "n_retained_neighbours": len(retained),
    }


def per_unit(examples: pd.DataFrame, fits: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(recovery table: one row per unit, state and variant evaluation; membership table:
    one row per unit and evaluated state, ``before`` included). ``fits``: kind -> its
    calibration (``mode``, ``seeds_per_half``)."""
    recovered, members = [], []
    for key, unit in examples.groupby(UNIT_COLUMNS, sort=True):
        labels = dict(zip(UNIT_COLUMNS, key, strict=True))
        fit = fits[labels["kind"]]
        evaluations = {k: rows for k, rows in unit.groupby(["state", "audit", "variant", "step"])}
        original = next(rows for (_, audit, *_), rows in evaluations.items() if audit == "original")
        states = {state: rows for (state, audit, *_), rows in evaluations.items() if audit == "unlearnt"}
        evaluated = [("before", 0, original)] + [(s, int(r["state_step"].iloc[0]), r) for s, r in states.items()]
        members += [
            {**labels, "state": s, "state_step": step, "lira_mode": fit["mode"], **membership(r, labels["kind"], fit)}
            for s, step, r in evaluated
        ]
        for (state, audit, variant, step), rows in evaluations.items():
            if audit not in ("relearn", "quantisation") or state == "before":
                continue
            recovered.append(
                {**labels, "state": state, "state_step": int(rows["state_step"].iloc[0]), "audit": audit}
                | {"variant": variant, "step": step}
                | recovery(original, states[state], rows)
            )
    return pd.DataFrame(recovered), pd.DataFrame(members)


def _level(units: pd.DataFrame) -> pd.Series:
    """The insertion level of a repetition-grouping unit, ``all`` for the others."""
    return np.where(units["grouping"] == "repetition", units["bucket"].astype(str), "all")


def one_grouping_only(units: pd.DataFrame) -> pd.DataFrame:
    """Units of the grouping the claims read (one, so that no example counts twice)."""
    if units.empty:
        return units
    chosen = one_grouping(units["grouping"].unique())
    return units[units["grouping"] == chosen]


def groups(table: pd.DataFrame, by: list[str], quantities: dict, level: float) -> pd.DataFrame:
    """Mean of each quantity (column -> bounds) over the units of each group (per kind,
    and per insertion level where the grouping is repetition), with its t interval."""
    table = one_grouping_only(table)
    if table.empty:
        return pd.DataFrame()
    rows = []
    for split in (["kind"], ["kind", "level"]):
        frame = table.assign(level=_level(table)) if "level" in split else table.assign(level="all")
        if "level" in split:
            frame = frame[frame["level"] != "all"]
        for key, rows_of in frame.groupby([*by, *split], sort=True, dropna=False):
            row = dict(zip([*by, *split], key, strict=True))
            row.setdefault("level", "all")
            for column, bounds in quantities.items():
                values = rows_of[column].dropna().to_numpy(float)
                estimate = intervals.mean(values, level, bounds)
                row |= {column: estimate.estimate, f"{column}_low": estimate.low, f"{column}_high": estimate.high}
                row[f"{column}_n"] = len(values)
            rows.append(row)
    return pd.DataFrame(rows)


def recovery_groups(recovered: pd.DataFrame, level: float) -> pd.DataFrame:
    return groups(
        recovered,
        ["method", "batch", "state", "audit", "variant", "step"],
        {"recovery": intervals.UNBOUNDED, "control_recovery": intervals.UNBOUNDED, "excess_bits": intervals.UNBOUNDED},
        level,
    )


def membership_groups(members: pd.DataFrame, level: float) -> pd.DataFrame:
    share = (0.0, 1.0)
    return groups(
        members,
        ["method", "batch", "state"],
        {
            "auc": share,
            "tpr_at_1pct_fpr": share,
            "neighbour_auc": share,
            "neighbour_tpr_at_1pct_fpr": share,
            "retained_neighbour_loss_auc": share,
        },
        level,
    )


def _final(recovered: pd.DataFrame, audit: str) -> pd.DataFrame:
    """Each unit's last evaluated relearning step of each source (or each quantisation)."""
    rows = recovered[recovered["audit"] == audit]
    if audit == "relearn":
        rows = rows[rows["step"] == rows.groupby("variant")["step"].transform("max")]
    return rows


def _claim(claim, statement, kind, statistic, quantity, first, second, bounds, **labels) -> dict:
    """One exploratory row in the claims table's columns; the claimed sign is > 0."""
    level = labels["level"]
    estimate = intervals.contrast([first], [second] if second is not None else None, level, bounds)
    return {
        "claim": claim,
        "method": labels["method"],
        "batch": labels["batch"],
        "kind": kind,
        "repetitions": "all",
        "statement": statement,
        "rule": labels["state"],
        "statistic": statistic,
        "quantity": quantity,
        "claimed": "> 0",
        **estimate.as_dict(),
        "level": level,
        "n_first": len(first),
        "n_second": 0 if second is None else len(second),
        "censored": 0,
        "missing": 0,
        "left_out": 0,
        "verdict": verdict(estimate.low, estimate.high, ">"),
        "note": "exploratory: not a claim of the paper",
        "exploratory": True,
    }


def _recovery_of(rows: pd.DataFrame, kind: str) -> np.ndarray:
    return rows.loc[rows["kind"] == kind, "recovery"].dropna().to_numpy(float)


def exploratory_claims(recovered: pd.DataFrame, members: pd.DataFrame, level: float) -> pd.DataFrame:
    """The audits' exploratory claims (not the paper's), in the claims table's columns:
    per method, batch size and audited state, with Holm's adjustment over each family."""
    rows = []
    recovered, members = one_grouping_only(recovered), one_grouping_only(members)
    before = members[members["state"] == "before"].set_index(UNIT_COLUMNS)
    for (method, batch, state), unit_members in members[members["state"] != "before"].groupby(
        ["method", "batch", "state"]
    ):
        labels = {"method": method, "batch": batch, "state": state, "level": level}
        of_state = (
            recovered[(recovered["method"] == method) & (recovered["batch"] == batch) & (recovered["state"] == state)]
            if len(recovered)
            else pd.DataFrame(columns=["audit", "variant", "kind", "step", "recovery"])
        )
        relearnt, quantised = _final(of_state, "relearn"), _final(of_state, "quantisation")
        kinds = sorted(unit_members["kind"].unique())
        family = []
        for kind in kinds:
            of_kind = unit_members[unit_members["kind"] == kind].set_index(UNIT_COLUMNS)
            # One-sided LiRA: an over-unlearnt set (AUC below 0.5) is as distinguishable as a
            # remembered one, on the other side; each direction is a claim of its own.
            for claim, statement, sign in (
                ("X1", "Unlearnt sets stay more member-like than never-trained members (membership AUC above 0.5)", 1),
                (
                    "X1_overshoot",
                    "Unlearning overshoots: unlearnt sets look less member-like than never-trained members "
                    "(membership AUC below 0.5), itself a membership signal",
                    -1,
                ),
            ):
                family.append(
                    _claim(
                        claim,
                        statement,
                        kind,
                        "membership AUC - 0.5 at the audited state" if sign > 0 else "0.5 - membership AUC",
                        "auc",
                        sign * (of_kind["auc"].to_numpy(float) - 0.5),
                        None,
                        (-0.5, 0.5),
                        **labels,
                    )
                )
            for claim, column, who in (
                ("X2", "neighbour_auc", "trained neighbours of its kind (LiRA)"),
                ("X2_retained", "retained_neighbour_loss_auc", "retained-pair neighbours (loss attack)"),
            ):
                change = (of_kind[column] - before.loc[of_kind.index, column]).dropna()
                if len(change):
                    family.append(
                        _claim(
                            claim,
                            f"Unlearning exposes the set's {who}: their membership AUC rises",
                            kind,
                            f"{column} at the state - before",
                            column,
                            change.to_numpy(float),
                            None,
                            (-1.0, 1.0),
                            **labels,
                        )
                    )
            for source, of_source in relearnt.groupby("variant"):
                family.append(
                    _claim(
                        f"X3_{source}",
                        f"Relearning on {source} brings back removed GenEx beyond the population's rise",
                        kind,
                        f"recovery after {int(of_source['step'].max())} relearning steps ({source})",
                        "recovery",
                        _recovery_of(of_source, kind),
                        None,
                        intervals.UNBOUNDED,
                        **labels,
                    )
                )
            for width, of_width in quantised.groupby("variant"):
                family.append(
                    _claim(
                        f"X4_{width}",
                        f"Quantisation ({width}) brings back removed GenEx",
                        kind,
                        f"recovery at {width}",
                        "recovery",
                        _recovery_of(of_width, kind),
                        None,
                        intervals.UNBOUNDED,
                        **labels,
                    )
                )
        if {"id", "ood"} <= set(kinds):
            for source, of_source in relearnt.groupby("variant"):
                family.append(
                    _claim(
                        f"X5_{source}",
                        f"OOD sets recover more under relearning ({source}) than ID sets",
                        "ood vs id",
                        f"recovery OOD - ID after relearning ({source})",
                        "recovery",
                        _recovery_of(of_source, "ood"),
                        _recovery_of(of_source, "id"),
                        intervals.UNBOUNDED,
                        **labels,
                    )
                )
        rejected = intervals.holm([r["p_value"] for r in family], 1 - level)
        for row, reject in zip(family, rejected, strict=True):
            row["verdict_holm"] = row["verdict"] if reject else "inconclusive"
        rows += family
    return pd.DataFrame(rows)
