"""Uncertainty: BLEU/chrF from sentence statistics, bootstrap coverage, verdicts."""

import random

import numpy as np
import pytest
import sacrebleu

from unlearn_study import metrics
from unlearn_study.analysis import bootstrap as stats


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(0)
    words = "the lord spoke to moses and aaron saying people of israel land".split()
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(60)]
    hyps = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(60)]
    return hyps, refs


@pytest.mark.parametrize("name, scorer", [("bleu", sacrebleu.BLEU), ("chrf", sacrebleu.CHRF)])
def test_scores_from_statistics_equal_sacrebleu_on_resampled_corpora(corpus, name, scorer):
    hyps, refs = corpus
    metric = metrics.REGISTRY[name]
    statistics = metric.sentence_statistics(hyps, refs)
    weights = stats.sentence_weights(np.random.default_rng(1), len(hyps), 30)
    weights[0] = 1  # the corpus itself
    weights[1] = 0
    weights[1][:2] = 1  # a tiny resample (zero n-gram matches likely)
    ours = metric.from_statistics(weights @ statistics)
    for w, score in zip(weights, ours, strict=True):
        picked = np.repeat(np.arange(len(hyps)), w.astype(int))
        expected = scorer().corpus_score([hyps[i] for i in picked], [[refs[i] for i in picked]]).score
        assert score == pytest.approx(expected, abs=1e-9)


def test_interval_of_a_contrast_covers_the_truth_95_percent_of_the_time():
    """Mean of 12 minus mean of 18 normal units: over 400 synthetic studies the 95% interval
    (with the small-sample correction) contains the true difference about 95% of the time."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        first, second = rng.normal(1.0, 2.0, 12), rng.normal(0.0, 3.0, 18)
        samples = stats.resampled_means(first, rng, 1000) - stats.resampled_means(second, rng, 1000)
        low, high = stats.interval(samples)
        covered += low <= 1.0 <= high
    assert 0.91 <= covered / 400 <= 0.98


def test_small_sample_correction_makes_the_bootstrap_variance_of_a_mean_unbiased():
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, 4)
    samples = stats.resampled_means(values, rng, 200_000)
    assert samples.mean() == pytest.approx(values.mean(), abs=0.01)
    assert samples.var() == pytest.approx(values.var(ddof=1) / 4, rel=0.02)


@pytest.mark.parametrize(
    "low, high, claimed, expected",
    [
        (0.5, 2.0, ">", "supported"),
        (0.5, 2.0, "<", "contradicted"),
        (-2.0, -0.1, "<", "supported"),
        (-2.0, -0.1, ">", "contradicted"),
        (-1.0, 1.0, ">", "inconclusive"),
        (0.0, 1.0, ">", "inconclusive"),
        (np.nan, np.nan, ">", "inconclusive"),
    ],
)
def test_verdict(low, high, claimed, expected):
    assert stats.verdict(low, high, claimed) == expected
