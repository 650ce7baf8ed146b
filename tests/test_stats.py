"""Uncertainty: BLEU/chrF from sentence statistics, verdicts (coverage: test_intervals.py)."""

import random

import numpy as np
import pytest
import sacrebleu

from unlearn_study import metrics
from unlearn_study.analysis.uncertainty import sentence_weights, verdict


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
    weights = sentence_weights(np.random.default_rng(1), len(hyps), 30)
    weights[0] = 1  # the corpus itself
    weights[1] = 0
    weights[1][:2] = 1  # a tiny resample (zero n-gram matches likely)
    ours = metric.from_statistics(weights @ statistics)
    for w, score in zip(weights, ours, strict=True):
        picked = np.repeat(np.arange(len(hyps)), w.astype(int))
        expected = scorer().corpus_score([hyps[i] for i in picked], [[refs[i] for i in picked]]).score
        assert score == pytest.approx(expected, abs=1e-9)


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
    assert verdict(low, high, claimed) == expected
