"""The forget set's neighbours (docs/METHOD.md, *Metrics*): the change of bits/token since
step 0 of its nearest trained examples and of its nearest never-trained ones."""

import numpy as np

from unlearn_study.metrics import Metric, StepScores, register


def _mean_delta(s: StepScores, group: str) -> float:
    """Mean over the (forget example, neighbour) rows of ``group``: a neighbour of two forget
    examples counts twice."""
    delta = s.neighbour_delta_bpt.loc[s.neighbours["example_id"]].to_numpy()
    return float(s.neighbours.assign(delta=delta).groupby("group")["delta"].mean().get(group, np.nan))


@register
class TrainedNeighbours(Metric):
    name = "neighbour_trained_delta_bpt"
    label = "trained neighbours, Δ bits/token"
    unit = "bits/token"
    per = "step"
    worse = "higher"
    digits = 3

    def compute(self, s: StepScores):
        return _mean_delta(s, "trained")


@register
class UnseenNeighbours(Metric):
    name = "neighbour_unseen_delta_bpt"
    label = "never-trained neighbours, Δ bits/token"
    unit = "bits/token"
    per = "step"
    worse = "higher"
    digits = 3

    def compute(self, s: StepScores):
        return _mean_delta(s, "unseen")
