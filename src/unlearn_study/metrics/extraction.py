"""Extraction: does greedy decoding of a forget example's source give back its target
exactly? And the test set's sequence accuracy (exact matches of its translations), the
utility counterpart the authors report beside BLEU."""

import numpy as np

from unlearn_study.metrics import Metric, StepScores, core, register


@register
class Extracted(Metric):
    name = "extracted"
    label = "extracted (greedy output = target)"
    unit = "share"
    per = "example"
    worse = "higher"
    bounds = (0.0, 1.0)
    digits = 2
    step_column = "extraction_rate"

    def compute(self, s: StepScores):
        return core.exact_match(s.forget_hypotheses, s.forget["tgt"].tolist())


@register
class TestExactMatch(Metric):
    name = "test_exact_match"
    label = "test sequence accuracy"
    unit = "share"
    per = "step"
    worse = "lower"
    bounds = (0.0, 1.0)
    digits = 3

    def compute(self, s: StepScores):
        return float(np.mean(core.exact_match(s.hypotheses, s.references)))
