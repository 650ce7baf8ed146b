"""The one interval function: its coverage by simulation (known truth), its range, Holm."""

import numpy as np
import pytest
from scipy import stats

from unlearn_study.analysis import intervals

LEVEL = 0.95
DRAWS = {  # name: (draw n values, true mean, range)
    "normal": (lambda rng, n: rng.normal(5.0, 2.0, n), 5.0, intervals.UNBOUNDED),
    "uniform share": (lambda rng, n: rng.uniform(0, 1, n), 0.5, (0.0, 1.0)),
    "skewed share, beta(2, 5)": (lambda rng, n: rng.beta(2, 5, n), 2 / 7, (0.0, 1.0)),
}


def coverage(estimate, truth, draw, n, bounds, repeats=3000, seed=0):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(repeats):
        result = estimate(rng, draw, n, bounds)
        hits += result.low <= truth <= result.high
    return hits / repeats


def one_mean(rng, draw, n, bounds):
    return intervals.mean(draw(rng, n), LEVEL, bounds)


def welch_difference(rng, draw, n, bounds):  # two groups of n, the same distribution: truth 0
    return intervals.contrast([draw(rng, n)], [draw(rng, n)], LEVEL, bounds)


@pytest.mark.parametrize("n", [4, 12])
@pytest.mark.parametrize("name", list(DRAWS))
def test_nominal_95_covers_93_to_97_percent(name, n):
    draw, truth, bounds = DRAWS[name]
    assert 0.93 <= coverage(one_mean, truth, draw, n, bounds) <= 0.97
    assert 0.93 <= coverage(welch_difference, 0.0, draw, n, bounds) <= 0.97


def percentile_bootstrap(rng, draw, n, bounds):
    """The interval this project used before: percentile bootstrap of the mean with the
    sqrt(n / (n - 1)) inflation."""
    values = draw(rng, n)
    means = values[rng.integers(0, n, size=(500, n))].mean(axis=1)
    means = values.mean() + np.sqrt(n / (n - 1)) * (means - values.mean())
    low, high = np.quantile(means, [0.025, 0.975])
    return intervals.Estimate(values.mean(), low, high, np.nan, np.nan)


def test_the_simulation_catches_an_interval_that_under_covers():
    draw, truth, bounds = DRAWS["normal"]
    assert coverage(percentile_bootstrap, truth, draw, 4, bounds, repeats=1500) < 0.9


def test_intervals_never_leave_their_quantitys_range():
    steps = intervals.mean([0, 0, 5, 60], LEVEL, (0.0, 60.0))
    assert (steps.estimate, steps.low) == (16.25, 0.0) and steps.high <= 60.0
    share = intervals.mean([1, 1, 1, 0.6], LEVEL, (0.0, 1.0))
    assert share.high == 1.0 and 0 <= share.low < 0.9
    two = intervals.mean([0, 60], LEVEL, (0.0, 60.0))
    assert (two.low, two.high) == (0.0, 60.0)
    difference = intervals.contrast([[0, 60]], [[60, 60, 0]], LEVEL, (0.0, 60.0))
    assert -60.0 <= difference.low and difference.high <= 60.0


def test_a_t_interval_by_hand():
    values = np.array([2.0, 4.0, 9.0])  # mean 5, sd sqrt(13), se sqrt(13/3)
    result = intervals.mean(values, LEVEL)
    half_width = stats.t.ppf(0.975, 2) * np.sqrt(13 / 3)
    assert result.low == pytest.approx(5 - half_width) and result.high == pytest.approx(5 + half_width)
    assert result.p_value == pytest.approx(2 * stats.t.sf(5 / np.sqrt(13 / 3), 2))
    # Welch: groups [1, 3] (var 2) and [10, 20, 30] (var 100): se^2 = 2/2 + 100/3
    welch = intervals.contrast([[1.0, 3.0]], [[10.0, 20.0, 30.0]], LEVEL)
    variance = 1 + 100 / 3
    df = variance**2 / (1**2 / 1 + (100 / 3) ** 2 / 2)
    assert welch.estimate == -18 and welch.df == pytest.approx(df)
    assert welch.high == pytest.approx(-18 + stats.t.ppf(0.975, df) * np.sqrt(variance))
    # two levels pooled with equal weight: (mean(a1) + mean(a2)) / 2 - (mean(b1) + mean(b2)) / 2
    pooled = intervals.contrast([[1.0, 3.0], [10.0, 30.0]], [[0.0, 2.0], [4.0, 6.0]], LEVEL)
    assert pooled.estimate == (2 + 20) / 2 - (1 + 5) / 2


def test_one_value_has_no_interval():
    result = intervals.mean([3.0], LEVEL)
    assert result.estimate == 3.0 and np.isnan(result.low) and np.isnan(result.high)


def test_holm_by_hand():
    # m = 4 at alpha 0.05: sorted 0.001 <= 0.0125, 0.01 <= 0.0167, 0.03 > 0.025: stop
    assert intervals.holm([0.03, 0.001, 0.2, 0.01], 0.05).tolist() == [False, True, False, True]
    assert intervals.holm([0.04, np.nan], 0.05).tolist() == [True, False]  # NaN: not in the family
