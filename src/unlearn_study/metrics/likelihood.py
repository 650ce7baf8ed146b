"""Bits per token (teacher forcing) of the forget set, the test set and the retain sample."""

import numpy as np

from unlearn_study.metrics import Metric, StepScores, register


@register
class ForgetBitsPerToken(Metric):
    name = "bpt"
    label = "forget set bits/token"
    unit = "bits/token"
    per = "example"
    worse = "lower"  # lower: the forget set is likelier, i.e. less forgotten
    bounds = (0.0, None)
    digits = 3
    step_column = "forget_bpt"

    def compute(self, s: StepScores):
        return s.forget_bpt


@register
class TestBitsPerToken(Metric):
    name = "test_bpt"
    label = "test set bits/token"
    unit = "bits/token"
    per = "step"
    worse = "higher"
    bounds = (0.0, None)
    digits = 3

    def compute(self, s: StepScores):
        return np.mean(s.test_bpt)


@register
class RetainBitsPerToken(Metric):
    name = "retain_bpt"
    label = "retain sample bits/token"
    unit = "bits/token"
    per = "step"
    worse = "higher"
    bounds = (0.0, None)
    digits = 3

    def compute(self, s: StepScores):
        return np.mean(s.retain_bpt)
