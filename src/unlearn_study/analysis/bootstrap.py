"""Uncertainty: bootstrap intervals over units (and test sentences) and verdicts.

Every comparison the study reports carries a 95% interval (docs/METHOD.md, *Claims, with
uncertainty*). Units (forget sets, each with its unlearnt model seed) are resampled with
replacement within each compared group; BLEU and chrF are recomputed on test sentences
resampled with replacement, the same resample for every unit and step (paired, as
sacrebleu's paired bootstrap does). Group means are bootstrapped with the small-sample
correction that makes the bootstrap variance of a mean unbiased: each resampled mean is
``m + sqrt(n / (n - 1)) * (m* - m)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from unlearn_study import metrics


def sentence_weights(rng: np.random.Generator, n_sentences: int, n_resamples: int) -> np.ndarray:
    """``(n_resamples, n_sentences)`` counts: how often each test sentence is drawn in each
    resample of ``n_sentences`` with replacement."""
    return rng.multinomial(n_sentences, np.full(n_sentences, 1.0 / n_sentences), size=n_resamples).astype(np.float64)


def resampled_means(values: np.ndarray, rng: np.random.Generator, n_resamples: int) -> np.ndarray:
    """Bootstrap distribution of the mean over units (axis -1 of ``values``), with the
    small-sample correction. ``values``: ``(n_units,)`` or ``(n_resamples, n_units)`` when
    each resample has its own unit values (e.g. BLEU on resampled sentences)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    if values.ndim == 1:
        values = np.broadcast_to(values, (n_resamples, n))
    picks = rng.integers(0, n, size=(n_resamples, n))
    resampled = np.take_along_axis(values, picks, axis=1).mean(axis=1)
    centre = values.mean(axis=1)
    return centre + np.sqrt(n / (n - 1)) * (resampled - centre) if n > 1 else centre


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of a bootstrap distribution."""
    low, high = np.quantile(np.asarray(samples, dtype=np.float64), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def verdict(low: float, high: float, claimed: str) -> str:
    """``supported`` when the interval excludes 0 in the claimed direction (``">"`` or
    ``"<"``), ``contradicted`` when it excludes 0 the other way, else ``inconclusive``."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    above, below = low > 0, high < 0
    if (above and claimed == ">") or (below and claimed == "<"):
        return "supported"
    if above or below:
        return "contradicted"
    return "inconclusive"


@dataclass
class Resamples:
    """Each unit quantity's values in every bootstrap resample of the test sentences:
    ``values[q]`` is ``(n_resamples, n_units)`` for BLEU/chrF quantities (recomputed on
    resampled sentences), ``(n_units,)`` for the others. ``rng`` draws the units."""

    units: pd.DataFrame
    values: dict
    n: int
    level: float
    rng: np.random.Generator

    def usable(self, quantity: str, members) -> np.ndarray:
        """``members`` (a boolean mask of units) whose ``quantity`` is defined."""
        values = self.values[quantity]
        finite = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=0)
        return np.asarray(members) & finite

    def samples(self, quantity: str, members) -> np.ndarray | None:
        """Bootstrap distribution of the mean of ``quantity`` over ``members`` (None: < 2 units)."""
        members = self.usable(quantity, members)
        if members.sum() < 2:
            return None
        return resampled_means(self.values[quantity][..., members], self.rng, self.n)

    def interval_of_mean(self, quantity: str, members) -> tuple[float, float]:
        samples = self.samples(quantity, members)
        return interval(samples, self.level) if samples is not None else (np.nan, np.nan)

    def mean_of_groups(self, quantity: str, groups) -> tuple[float, np.ndarray | None]:
        """The average over ``groups`` (unit masks), with equal weight, of each group's mean
        of ``quantity``, and its bootstrap distribution (units resampled within each group;
        None when a group has fewer than 2 units)."""
        means = [float(self.units.loc[self.usable(quantity, g), quantity].mean()) for g in groups]
        samples = [self.samples(quantity, g) for g in groups]
        combined = None if any(s is None for s in samples) else np.mean(samples, axis=0)
        return float(np.mean(means)), combined

    def contrast(self, quantity: str, first, second=None) -> dict:
        """Estimate and interval of mean(first) - mean(second), or of mean(first) alone;
        each side a list of unit masks averaged with equal weight (one mask: its mean)."""
        estimate, samples = self.mean_of_groups(quantity, first)
        if second is not None:
            other_estimate, other = self.mean_of_groups(quantity, second)
            estimate -= other_estimate
            samples = samples - other if samples is not None and other is not None else None
        low, high = interval(samples, self.level) if samples is not None else (np.nan, np.nan)
        return {"estimate": estimate, "low": low, "high": high}


def resamples(
    units: pd.DataFrame, translations: pd.DataFrame, references: list[str], n: int, level: float, seed: int
) -> Resamples:
    """Resample the test sentences once (``n`` times) and compute every unit's drops of the
    corpus metrics (BLEU, chrF) on each resample from per-sentence statistics (paired
    bootstrap). A unit without translations at the step a drop is read at (a diverged run
    never got there) has no value there: NaN, missing from that quantity."""
    from unlearn_study.analysis.units import QUANTITIES, UNIT

    rng = np.random.default_rng(seed)
    weights = sentence_weights(rng, len(references), n)
    by_run = dict(iter(translations.groupby([*UNIT, "step"], sort=False)))
    cache: dict = {}

    def summed(metric, key, step):
        """Per-resample summed statistics of ``metric`` for one unit at one step (None: not evaluated)."""
        if (metric.name, key, step) not in cache:
            rows = by_run.get((*key, step))
            cache[(metric.name, key, step)] = (
                None
                if rows is None
                else weights
                @ metric.sentence_statistics(rows.sort_values("sentence")["hypothesis"].tolist(), references)
            )
        return cache[(metric.name, key, step)]

    values = {q: units[q].to_numpy(dtype=np.float64) for q in units.columns if units[q].dtype.kind in "fib"}
    for quantity, spec in QUANTITIES.items():
        if spec.metric is None:
            continue
        metric = metrics.REGISTRY[spec.metric]
        column = np.full((n, len(units)), np.nan)
        for i, unit in enumerate(units.itertuples()):
            key, step = tuple(getattr(unit, column) for column in UNIT), getattr(unit, spec.step)
            before, after = summed(metric, key, 0), summed(metric, key, step)
            if before is not None and after is not None:
                column[:, i] = metric.from_statistics(before) - metric.from_statistics(after)
        values[quantity] = column
    return Resamples(units, values, n, level, rng)
