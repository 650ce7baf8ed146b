"""The calibrated unlearning test (docs/METHOD.md, *Calibrated test*).

Is the model, on example z, distinguishable from a model that never saw z? Models that
never saw z disagree about its loss; the populations are out for every model, so how a
half's models and the other half's models disagree on them is exactly the spread that
never-trained models show. For a population member r, with S seeds per half,

    g(r) = LME_{s}(l_{h,s}(r)) - l_{h',s'}(r)        for h != h' and every seed s' of h',

is what GenEx = LME_out(l(z)) - l_t(z) looks like when the model at step t never saw z.

- **pooled** (LiRA's fixed variance; works with one seed per half): the null statistic is
  ``u = g / sqrt(|y| + 1)`` (disagreement grows with the number of target tokens, about as
  its square root for independent token errors); the band is the central ``1 - alpha`` of
  u over the population members of the example's kind that are in the fit split.
- **per_example** (S >= 2 seeds per half): ``t = (mean_out l(z) - l_t(z)) / (sd_out l(z) *
  sqrt(1 + 1/S))`` against Student's t with S - 1 degrees of freedom (a prediction interval
  for one more never-trained model), using the plain mean and standard deviation of z's own
  out-model losses; the band is ``+-t_{S-1, 1-alpha/2}``.

Two-sided: GenEx far below 0 (over-unlearning, itself a membership signal) fails the test
as surely as GenEx far above. The false-positive rate, the share of null statistics of
population members held out from the fit that fall outside the band, is measured and
should be near alpha.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from unlearn_study.analysis import intervals
from unlearn_study.metrics import core
from unlearn_study.study import kinds
from unlearn_study.study.kinds import HALVES

PER_EXAMPLE_MIN_SEEDS = 4  # auto mode: fewer seeds per half give too wide t intervals


def resolve_mode(mode: str, seeds_per_half: int) -> str:
    if mode == "auto":
        return "per_example" if seeds_per_half >= PER_EXAMPLE_MIN_SEEDS else "pooled"
    return mode


def seed_columns(table: pd.DataFrame, half: str) -> list[str]:
    prefix = f"bits_{half}_seed"
    return sorted((c for c in table.columns if c.startswith(prefix)), key=lambda c: int(c[len(prefix) :]))


def null_statistics(members: pd.DataFrame, mode: str) -> np.ndarray:
    """``(n_members, 2 S)`` null statistics of never-trained examples: each half's models
    as the out-models, each seed of the other half as the model under test."""
    tokens = members["target_len"].to_numpy(dtype=np.float64) + 1.0
    columns = []
    for out_half, model_half in (HALVES, HALVES[::-1]):
        out = members[seed_columns(members, out_half)].to_numpy()
        for column in seed_columns(members, model_half):
            model_bits = members[column].to_numpy()
            if mode == "pooled":
                columns.append((core.lme(out, axis=1) - model_bits) / np.sqrt(tokens))
            else:
                columns.append(t_statistic(out.mean(axis=1), out.std(axis=1, ddof=1), out.shape[1], model_bits))
    return np.stack(columns, axis=1)


def t_statistic(out_mean, out_sd, n_seeds: int, bits) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(out_mean) - np.asarray(bits)) / (np.asarray(out_sd) * np.sqrt(1 + 1 / n_seeds))


def split(members: pd.DataFrame, kind: str, holdout: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, held-out) rows of a kind's population members, seeded per kind: the bands
    are fitted on the first, their false-positive rates measured on the second."""
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    order = rng.permutation(len(members))
    n_holdout = int(round(holdout * len(members)))
    return members.iloc[np.sort(order[n_holdout:])], members.iloc[np.sort(order[:n_holdout])]


def calibrate(
    table: pd.DataFrame,
    kind: str,
    alpha: float,
    mode: str,
    holdout: float,
    seed: int,
    level: float = 0.95,
) -> dict:
    """Fit the band of ``kind`` on part of its population; measure the false-positive
    rate on the rest (with its interval over held-out members)."""
    members = kinds.population(table, kind).reset_index(drop=True)
    seeds = len(seed_columns(table, "A"))
    mode = resolve_mode(mode, seeds)
    fit, held = split(members, kind, holdout, seed)
    if mode == "pooled":
        low, high = np.quantile(null_statistics(fit, mode), [alpha / 2, 1 - alpha / 2])
    else:
        high = float(scipy_stats.t.ppf(1 - alpha / 2, seeds - 1))
        low = -high
    outside = ~inside(null_statistics(held, mode), low, high)
    per_member = outside.mean(axis=1)
    fpr = intervals.mean(per_member, level, bounds=(0.0, 1.0))
    return {
        "kind": kind,
        "mode": mode,
        "alpha": alpha,
        "seeds_per_half": seeds,
        "band_low": float(low),
        "band_high": float(high),
        "n_fit": len(fit),
        "n_holdout": len(held),
        "fpr": float(outside.mean()),
        "fpr_low": fpr.low,
        "fpr_high": fpr.high,
    }


def inside(statistic, low: float, high: float) -> np.ndarray:
    statistic = np.asarray(statistic, dtype=np.float64)
    return (statistic >= low) & (statistic <= high)


def indistinguishable(rows: pd.DataFrame, calibration: dict) -> np.ndarray:
    """Per row (forget example at a step: ``genex``, ``bits``, ``target_len`` and, for
    per_example, ``bits_out_mean``/``bits_out_sd``): inside the band of its kind?"""
    if calibration["mode"] == "pooled":
        statistic = rows["genex"].to_numpy() / np.sqrt(rows["target_len"].to_numpy(dtype=np.float64) + 1.0)
    else:
        statistic = t_statistic(rows["bits_out_mean"], rows["bits_out_sd"], calibration["seeds_per_half"], rows["bits"])
    return inside(statistic, calibration["band_low"], calibration["band_high"])


def unlearnt_count(n: int, alpha: float) -> int:
    """The fewest indistinguishable examples, of n, at which a set counts as unlearnt: the
    alpha-quantile of Binomial(n, 1 - alpha), i.e. what a set of never-trained examples
    reaches with probability at least 1 - alpha (8 of 10 at alpha 0.05)."""
    return int(scipy_stats.binom.ppf(alpha, n, 1 - alpha))


def unlearnt_window(steps, counts, n: int, alpha: float) -> tuple[float, float, bool]:
    """(first evaluated step at which ``counts`` (indistinguishable examples per step)
    reach ``unlearnt_count``, the last step of the run of evaluated steps that stay
    there, whether it stays to the last step); NaN, NaN, False when never reached."""
    steps, reached = np.asarray(steps), np.asarray(counts) >= unlearnt_count(n, alpha)
    if not reached.any():
        return np.nan, np.nan, False
    first = int(np.argmax(reached))
    end = first
    while end + 1 < len(reached) and reached[end + 1]:
        end += 1
    return float(steps[first]), float(steps[end]), bool(end == len(reached) - 1)


# The specific test (docs/METHOD.md, *Calibrated tests*): is z, under the model at step t,
# where never-trained examples of its kind are under that same model? A population member
# r's statistic at step t is g_t(r) = (LME_out(l(r)) - l_t(r)) / sqrt(|y| + 1), with the
# forget set's out-models (the other half's); g_t(r) = g_0(r) - d_t(r), where g_0 is the
# null statistic against the unlearnt model before unlearning and d_t(r) = (l_t(r) -
# l_0(r)) / sqrt(|y| + 1) the damage unlearning did to r. The band at step t is the central
# 1 - alpha of g_0(i) - d_t(j) over the fit split's members i (g_0 known for all of them
# from the example table) and a sample j of them scored at every step (their damage):
# damage taken as independent of a member's own g_0, which the job checks against the
# exact band of the evaluation sample at every full evaluation.


def pooled_statistic(genex, target_len) -> np.ndarray:
    """GenEx per square-rooted token (target pieces plus EOS): the statistic of both tests' pooled form."""
    return np.asarray(genex, dtype=np.float64) / np.sqrt(np.asarray(target_len, dtype=np.float64) + 1.0)


def step0_null(members: pd.DataFrame, half: str, seed: int) -> np.ndarray:
    """g_0 of population ``members`` for a model of ``half`` and ``seed`` before
    unlearning: the other half's models (LME over its seeds) against this model."""
    other = HALVES[1 - HALVES.index(half)]
    return pooled_statistic(members[f"bits_{other}"] - members[f"bits_{half}_seed{seed}"], members["target_len"])


def damage(bits_t, bits_0, target_len) -> np.ndarray:
    """d_t: how much likelier (negative) or less likely (positive) a member became, per
    square-rooted token."""
    return pooled_statistic(np.asarray(bits_t) - np.asarray(bits_0), target_len)


def specific_band(null_fit, damage_sample, alpha: float) -> tuple[float, float]:
    """The central 1 - alpha of g_0(i) - d_t(j) over the fit members i and sampled members j."""
    values = np.subtract.outer(np.asarray(null_fit, dtype=np.float64), np.asarray(damage_sample, dtype=np.float64))
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def power(table: pd.DataFrame, calibrations: pd.DataFrame, alpha: float, holdout: float, seed: int) -> pd.DataFrame:
    """Before any unlearning, the share of candidates that each test can tell from never
    trained, per kind and repetition level: the tests' power to see what there is to
    unlearn. A candidate's statistic is its memorisation per square-rooted token against
    the strict band (the kind's calibration) and against the specific band of its half's
    model at step 0 (the fit split's null statistics under that model; the model of the
    smallest seed)."""
    rows = []
    model_seed = min(int(c.rsplit("seed", 1)[1]) for c in seed_columns(table, "A"))
    by_kind = calibrations.set_index("kind")
    for kind, strict in by_kind.iterrows():
        fit, _ = split(kinds.population(table, kind).reset_index(drop=True), kind, holdout, seed)
        bands = {half: np.quantile(step0_null(fit, half, model_seed), [alpha / 2, 1 - alpha / 2]) for half in HALVES}
        candidates = table[table["kind"] == kind].assign(genex=lambda d: d["mem"], bits=lambda d: d["bits_in"])
        strict_inside = indistinguishable(candidates, strict.to_dict())
        statistic = pooled_statistic(candidates["mem"], candidates["target_len"])
        specific_inside = np.array([inside(s, *bands[h]) for s, h in zip(statistic, candidates["half"])], dtype=bool)
        for level, members in candidates.groupby("repetitions").groups.items():
            at = candidates.index.get_indexer(members)
            rows.append(
                {
                    "kind": kind,
                    "repetitions": int(level),
                    "n": len(at),
                    "strict_power": float((~strict_inside[at]).mean()),
                    "specific_power": float((~specific_inside[at]).mean()),
                }
            )
    return pd.DataFrame(rows)
