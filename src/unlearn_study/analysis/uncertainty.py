"""Uncertainty of the unit tables' means and contrasts (docs/METHOD.md, *Claims, with
uncertainty*): one interval function (:mod:`.intervals`) over the independent units, and
the test-sentence sampling of BLEU and chrF.

The independent unit is the model when a half has two or more unlearnt seeds (the units
of one model, its forget sets, are averaged first, and the interval is over models);
otherwise it is the unit, and every interval is conditional on the two models (one per
half) the study unlearns from: ``conditional_on`` says which. BLEU and chrF are corpus
scores of one test set: their drops are recomputed on test sentences resampled with
replacement, the same resample for every unit and step (paired, as sacrebleu's paired
bootstrap), and the variance of a mean or contrast over those resamples is added to the
between-unit variance (conservative: each unit's own sentence noise is in both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from unlearn_study import metrics
from unlearn_study.analysis import intervals
from unlearn_study.analysis.units import QUANTITIES, STEPS, UNIT


def sentence_weights(rng: np.random.Generator, n_sentences: int, n_resamples: int) -> np.ndarray:
    """``(n_resamples, n_sentences)`` counts: how often each test sentence is drawn in each
    resample of ``n_sentences`` with replacement."""
    return rng.multinomial(n_sentences, np.full(n_sentences, 1.0 / n_sentences), size=n_resamples).astype(np.float64)


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


def bounds_of(column: str, max_step: float) -> intervals.Bounds:
    """The range a unit column can take: steps in [0, the run's steps], a metric's reading
    its metric's range, a drop of a metric plus or minus its span; else unbounded."""
    if column in QUANTITIES:
        quantity = QUANTITIES[column]
        if quantity.unit == STEPS:
            return (0.0, float(max_step))
        if quantity.metric is not None:
            return intervals.difference_bounds(metrics.REGISTRY[quantity.metric].bounds)
        return quantity.bounds
    for metric in metrics.REGISTRY.values():
        if column.startswith(f"{metric.name}_") and column.removeprefix(f"{metric.name}_") in (
            "step0",
            "at_unlearning",
            "final",
        ):
            return metric.bounds
    return intervals.UNBOUNDED


@dataclass
class Uncertainty:
    """Intervals of unit-table quantities: ``units`` (one row per unit), the corpus-metric
    drops recomputed on each test-sentence resample (``sentence_values[q]``, ``(n, units)``),
    the interval ``level``, the run's ``max_step`` (the range of steps), and whether the
    model (half, seed) is the independent unit (``by_model``)."""

    units: pd.DataFrame
    sentence_values: dict
    level: float
    max_step: float
    by_model: bool

    @property
    def conditional_on(self) -> str:
        if self.by_model:
            return "independent units: the unlearnt models (half and seed); forget sets averaged within each model"
        return "conditional on the two models unlearnt from (one seed per half); independent units: forget sets"

    def usable(self, quantity: str, members) -> np.ndarray:
        """``members`` (a boolean mask of units) whose ``quantity`` is defined."""
        finite = np.isfinite(self.units[quantity].to_numpy(dtype=np.float64))
        if quantity in self.sentence_values:
            finite &= np.isfinite(self.sentence_values[quantity]).all(axis=0)
        return np.asarray(members) & finite

    def _independent(self, quantity: str, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values`` (over units, last axis) of the usable ``mask`` units, averaged per
        model when the model is the independent unit."""
        mask = self.usable(quantity, mask)
        if not self.by_model:
            return values[..., mask]
        models = self.units.loc[mask, ["half", "seed"]].astype(str).agg("/".join, axis=1).to_numpy()
        chosen = values[..., mask]
        return np.stack([chosen[..., models == m].mean(axis=-1) for m in sorted(set(models))], axis=-1)

    def _combine(self, quantity: str, sides) -> intervals.Estimate:
        """``sides``: (first masks, second masks or None) of ``intervals.contrast``."""
        first, second = sides
        point = self.units[quantity].to_numpy(dtype=np.float64)
        groups = [[self._independent(quantity, m, point) for m in side] for side in (first, second) if side is not None]
        extra = 0.0
        if quantity in self.sentence_values and all(len(g) >= 2 for side in groups for g in side):
            resampled = self.sentence_values[quantity]
            per_side = [
                np.mean([self._independent(quantity, m, resampled).mean(axis=-1) for m in side], axis=0)
                for side in (first, second)
                if side is not None
            ]
            contrast = per_side[0] - per_side[1] if len(per_side) == 2 else per_side[0]
            extra = float(np.var(contrast, ddof=1)) if len(contrast) > 1 else 0.0
        bounds = bounds_of(quantity, self.max_step)
        return intervals.contrast(groups[0], groups[1] if second is not None else None, self.level, bounds, extra)

    def interval_of_mean(self, quantity: str, members) -> tuple[float, float]:
        estimate = self._combine(quantity, ([members], None))
        return estimate.low, estimate.high

    def contrast(self, quantity: str, first, second=None) -> dict:
        """Estimate, interval and p-value of the average of the group means of ``first`` (a
        list of unit masks, equal weight) minus that of ``second`` (None: ``first`` alone)."""
        return self._combine(quantity, (first, second)).as_dict()


def uncertainty(
    units: pd.DataFrame,
    translations: pd.DataFrame,
    references: list[str],
    n: int,
    level: float,
    seed: int,
    max_step: float,
) -> Uncertainty:
    """The :class:`Uncertainty` of ``units``: the test sentences are resampled once (``n``
    times) and every unit's drops of the corpus metrics (BLEU, chrF) are recomputed on each
    resample from per-sentence statistics (paired). A unit without translations at the step
    a drop is read at (a diverged run never got there) has no value there: NaN, missing
    from that quantity."""
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

    values = {}
    for quantity, spec in QUANTITIES.items():
        if spec.metric is None:
            continue
        metric = metrics.REGISTRY[spec.metric]
        column = np.full((n, len(units)), np.nan)
        for i, unit in enumerate(units.itertuples()):
            key, step = tuple(getattr(unit, name) for name in UNIT), getattr(unit, spec.step)
            before, after = summed(metric, key, 0), summed(metric, key, step)
            if before is not None and after is not None:
                column[:, i] = metric.from_statistics(before) - metric.from_statistics(after)
        values[quantity] = column
    seeds_per_half = units.groupby("half")["seed"].nunique().min() if len(units) else 0
    return Uncertainty(units, values, level, max_step, by_model=bool(seeds_per_half >= 2))
