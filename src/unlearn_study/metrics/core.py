"""Memorisation and unlearning metrics on per-sequence / per-token bit counts.

Conventions
-----------
* All losses are in **bits** (negative log2-likelihood); lower means the model
  finds the sequence more likely.
* "Bits per sequence" ``l(z)`` is the summed loss of ``|y_z| + 1`` target
  positions (pieces plus EOS); "bits per token" ``lbar(z) = l(z) / (|y_z|+1)``.
* Arrays along the last axis of a 2-D input index training seeds.
* All functions are pure and return float64 numpy arrays (or a dict / tuple
  where stated).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.special import logsumexp

LN2 = math.log(2.0)  # nats per bit

__all__ = [
    "bits_per_token",
    "lme",
    "rank_exposure",
    "fit_skewnorm",
    "skewnorm_exposure",
    "generalised_exposure",
    "relative_exposure",
    "terciles",
    "steps_to_unlearn",
    "agreement",
]


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def bits_per_token(bits, target_lengths) -> np.ndarray:
    """Bits per token = bits / (n + 1): the n target pieces plus EOS."""
    return _f64(bits) / (_f64(target_lengths) + 1.0)


def lme(bits, axis: int = -1) -> np.ndarray:
    """Log-mean-exponential over seeds, in probability space.

    ``LME(l) = -log2( (1/S) * sum_s 2^(-l_s) )``

    i.e. the loss (in bits) of the seed-averaged probability. Computed stably
    as ``-(logsumexp(-l_s * ln2) - ln S) / ln2``. With a single seed it returns
    the loss itself.
    """
    bits = _f64(bits)
    n = bits.shape[axis]
    return _f64(-(logsumexp(-bits * LN2, axis=axis) - np.log(n)) / LN2)


def rank_exposure(values, population) -> np.ndarray:
    """Exposure of Carlini et al. ("The Secret Sharer"), rank form.

    ``exposure(v) = log2 |R| - log2 rank(v)``,
    ``rank(v) = 1 + #{r in population : r < v}``

    ``values`` and ``population`` are bits per token (lower = more likely);
    ties with the population do not raise the rank. As in Carlini et al. the
    candidate itself is a member of the randomness space, so
    ``|R| = len(population) + 1``; hence the range is exactly
    ``[0, log2 |R|]``: 0 when ``v`` is worse than every reference, ``log2 |R|``
    when it is better than (or tied with the best of) all of them.

    Vectorised: the population is sorted once and ranks come from
    ``np.searchsorted(..., side="left")``, which counts strictly smaller items.
    """
    values = _f64(values)
    pop = np.sort(_f64(population).ravel())
    rank = 1.0 + np.searchsorted(pop, values, side="left")
    return _f64(np.log2(pop.size + 1.0) - np.log2(rank))


def fit_skewnorm(population) -> tuple[float, float, float]:
    """Fit a skew-normal to the population (bits per token).

    Returns ``(a, loc, scale)`` from ``scipy.stats.skewnorm.fit`` (a
    deterministic optimiser: no random seed is involved).

    Raises ValueError if the population has fewer than 2 finite values or zero
    variance (the fit is degenerate).
    """
    pop = _f64(population).ravel()
    if pop.size < 2 or not np.all(np.isfinite(pop)):
        raise ValueError("fit_skewnorm needs >= 2 finite population values")
    if np.ptp(pop) == 0.0:
        raise ValueError("fit_skewnorm: population has zero variance; a skew-normal cannot be fitted")
    a, loc, scale = stats.skewnorm.fit(pop)
    return float(a), float(loc), float(scale)


def skewnorm_exposure(values, params) -> np.ndarray:
    """Extrapolated exposure from a fitted skew-normal.

    ``exposure(v) = -log2 F_sn(v) = -ln F_sn(v) / ln 2``

    where ``F_sn`` is the CDF with ``params = (a, loc, scale)`` (see
    :func:`fit_skewnorm`). ``logcdf`` keeps precision far into the left tail,
    so exposures beyond ``log2 |R|`` remain finite and monotone.
    """
    a, loc, scale = params
    return _f64(-stats.skewnorm.logcdf(_f64(values), a, loc=loc, scale=scale) / LN2)


def _seeds_2d(x) -> np.ndarray:
    x = _f64(x)
    return x[:, None] if x.ndim == 1 else x


def generalised_exposure(ref_bits, model_bits) -> np.ndarray:
    """Generalised exposure, bits per sequence.

    ``GenEx(z) = LME_s(l_ref,s(z)) - LME_s(l_model,s(z))``

    Inputs have shape ``(n, n_seeds)`` (seed counts may differ) or ``(n,)``
    for a single seed. With one seed each this is the memorisation score
    ``mem = l_ref - l_model``. Returns shape ``(n,)``.
    """
    return lme(_seeds_2d(ref_bits), axis=-1) - lme(_seeds_2d(model_bits), axis=-1)


def relative_exposure(target_lengths, population_bits_per_token_step0, bits_t) -> np.ndarray:
    """Relative exposure at step ``t``, bits per sequence.

    ``RelEx_t(z) = (|y_z| + 1) * median_{r in R} lbar_0(r) - l_t(z)``

    ``target_lengths``: ``|y_z|`` in pieces (without EOS); the population holds
    bits per token of reference sequences under the step-0 model; ``bits_t``
    is bits per sequence of ``z`` at step ``t``. Broadcasts numpy-style.
    """
    med = np.median(_f64(population_bits_per_token_step0))
    return _f64((_f64(target_lengths) + 1.0) * med - _f64(bits_t))


def terciles(values, labels=("low", "medium", "high")) -> np.ndarray:
    """Assign each value to a tercile.

    With ``q1, q2`` the 1/3 and 2/3 quantiles of ``values`` (numpy's default
    linear interpolation): ``v <= q1 -> labels[0]``, ``q1 < v <= q2 ->
    labels[1]``, ``v > q2 -> labels[2]``. Values equal to a cut point
    therefore always go to the *lower* bucket, so tied values share a label.
    Returns an object array of labels with the shape of ``values``.
    """
    v = _f64(values)
    if v.size < 3:
        raise ValueError("terciles needs at least 3 values")
    if len(labels) != 3:
        raise ValueError("terciles needs exactly 3 labels")
    q1, q2 = np.quantile(v, [1 / 3, 2 / 3])
    idx = np.searchsorted(np.array([q1, q2]), v, side="left")
    return np.asarray(labels, dtype=object)[idx]


def steps_to_unlearn(steps, genex, tau: float = 0.0) -> np.ndarray:
    """First evaluated step at which unlearning is reached.

    ``T(z) = min{ steps[i] : GenEx_i(z) <= tau }``, NaN where never reached
    (NaN GenEx counts as not reached).

    ``steps``: increasing 1-D array of length ``n_steps``; ``genex`` shape
    ``(n_steps,)`` (returns a 0-d array) or ``(n_steps, n_examples)``.
    """
    steps = _f64(steps)
    g = _f64(genex)
    if g.shape[0] != steps.size:
        raise ValueError("genex's first axis must match len(steps)")
    hit = g <= tau
    first = np.argmax(hit, axis=0)
    return _f64(np.where(hit.any(axis=0), steps[first], np.nan))


def agreement(relex, genex) -> dict:
    """Agreement between relative and generalised exposure.

    ``spearman = rho_S(RelEx, GenEx)`` (scipy.stats.spearmanr) and
    ``mae = mean |RelEx - GenEx|``, over pairs where both are finite.
    NaN when fewer than 2 (spearman) or 0 (mae) pairs remain.
    """
    r = _f64(relex).ravel()
    g = _f64(genex).ravel()
    if r.shape != g.shape:
        raise ValueError("relex and genex must have the same size")
    ok = np.isfinite(r) & np.isfinite(g)
    r, g = r[ok], g[ok]
    rho = float(stats.spearmanr(r, g)[0]) if r.size >= 2 else np.nan
    mae = float(np.mean(np.abs(r - g))) if r.size else np.nan
    return {"spearman": rho, "mae": mae}


def exact_match(hypotheses, references) -> np.ndarray:
    """1.0 where a hypothesis equals its reference exactly (detokenised text), else 0.0:
    sequence accuracy, or *extraction* when the hypothesis is the model's greedy output for
    a forget example's source and the reference its target."""
    if len(hypotheses) != len(references):
        raise ValueError("hypotheses and references must have the same length")
    return _f64([h == r for h, r in zip(hypotheses, references)])
