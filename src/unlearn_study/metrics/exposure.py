"""Exposure of the forget set at step t (docs/METHOD.md, *Metrics*): generalised and
relative exposure, and Carlini et al.'s rank and extrapolated exposure against the
population of the set's kind under the same model."""

from unlearn_study.metrics import Metric, StepScores, core, register


@register
class GeneralisedExposure(Metric):
    name = "genex"
    label = "generalised exposure"
    unit = "bits"
    per = "example"
    worse = "higher"
    digits = 1

    def compute(self, s: StepScores):
        return core.generalised_exposure(s.forget["bits_out"].to_numpy(), s.forget_bits)


@register
class RelativeExposure(Metric):
    name = "relex"
    label = "relative exposure"
    unit = "bits"
    per = "example"
    worse = "higher"
    digits = 1

    def compute(self, s: StepScores):
        return core.relative_exposure(s.forget["target_len"].to_numpy(), s.population_bpt0, s.forget_bits)


@register
class RankExposure(Metric):
    name = "exposure_rank"
    label = "rank exposure"
    unit = "bits"
    per = "example"
    worse = "higher"
    bounds = (0.0, None)

    def compute(self, s: StepScores):
        return core.rank_exposure(s.forget_bpt, s.population_bpt)


@register
class SkewNormalExposure(Metric):
    name = "exposure_skewnorm"
    label = "skew-normal exposure (extrapolated)"
    unit = "bits"
    per = "example"
    worse = "higher"
    bounds = (0.0, None)

    def compute(self, s: StepScores):
        return core.skewnorm_exposure(s.forget_bpt, core.fit_skewnorm(s.population_bpt))
