"""Translation quality of the test set translated by θ_t: sacrebleu's default BLEU and chrF.

Both are corpus scores, so an interval over test sentences resamples sentences and
recomputes the score; ``sentence_statistics`` and ``from_statistics`` make that exact
and fast: the corpus score of any resample is a function of a weighted sum of per-sentence
statistics (sacrebleu's own layout; tested against ``corpus_score``).
"""

from __future__ import annotations

import numpy as np

from unlearn_study.metrics import Metric, StepScores, register

BLEU_ORDER = 4  # sacrebleu's default BLEU: 4-gram, exp smoothing, no effective order
CHRF_ORDER = 6  # sacrebleu's default chrF: character 6-grams, no word n-grams, beta 2
CHRF_BETA = 2.0


class CorpusScore(Metric):
    """A sacrebleu corpus metric of the test translations, resampled over test sentences."""

    per = "step"
    worse = "lower"
    bounds = (0.0, 100.0)
    unit = "points"

    def scorer(self):
        raise NotImplementedError

    def corpus(self, hypotheses: list[str], references: list[str]) -> float:
        return self.scorer().corpus_score(hypotheses, [references]).score

    def compute(self, s: StepScores):
        return self.corpus(s.hypotheses, s.references)

    def signature(self) -> str:
        """sacrebleu's signature of the metric as the study uses it (one reference per sentence)."""
        scorer = self.scorer()
        scorer.corpus_score(["x"], [["x"]])  # sacrebleu knows the reference count only after scoring
        return str(scorer.get_signature())

    def sentence_statistics(self, hypotheses: list[str], references: list[str]) -> np.ndarray:
        """Per-sentence sufficient statistics, ``(n, k)``."""
        rows = self.scorer()._extract_corpus_statistics(hypotheses, [references])
        return np.asarray(rows, dtype=np.float64)

    def from_statistics(self, summed) -> np.ndarray:
        """The corpus score from summed statistics ``(..., k)``, vectorised over leading axes."""
        raise NotImplementedError


@register
class BLEU(CorpusScore):
    name = "bleu"
    label = "test BLEU"

    def scorer(self):
        import sacrebleu

        return sacrebleu.BLEU()

    def from_statistics(self, summed) -> np.ndarray:
        stats = np.asarray(summed, dtype=np.float64)
        sys_len, ref_len = stats[..., 0], stats[..., 1]
        correct, total = stats[..., 2 : 2 + BLEU_ORDER], stats[..., 2 + BLEU_ORDER :]
        with np.errstate(divide="ignore", invalid="ignore"):
            bp = np.where(sys_len < ref_len, np.where(sys_len > 0, np.exp(1 - ref_len / sys_len), 0.0), 1.0)
            zero = correct == 0
            smooth = 2.0 ** np.cumsum(zero, axis=-1)  # exp smoothing halves each further zero order
            precision = np.where(zero, 100.0 / (smooth * total), 100.0 * correct / total)
            stopped = np.cumsum(total == 0, axis=-1) > 0  # sacrebleu stops at the first empty order
            precision = np.where(stopped, 0.0, precision)
            log_precision = np.where(precision > 0, np.log(np.where(precision > 0, precision, 1.0)), -9999999999.0)
        score = bp * np.exp(log_precision.mean(axis=-1))
        return np.where(correct.sum(axis=-1) == 0, 0.0, score)


@register
class ChrF(CorpusScore):
    name = "chrf"
    label = "test chrF"

    def scorer(self):
        import sacrebleu

        return sacrebleu.CHRF()

    def from_statistics(self, summed) -> np.ndarray:
        stats = np.asarray(summed, dtype=np.float64).reshape(*np.shape(summed)[:-1], CHRF_ORDER, 3)
        n_hyp, n_ref, n_match = stats[..., 0], stats[..., 1], stats[..., 2]
        counted = (n_hyp > 0) & (n_ref > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(n_hyp > 0, n_match / n_hyp, 0.0)
            recall = np.where(n_ref > 0, n_match / n_ref, 0.0)
        orders = counted.sum(axis=-1)
        safe = np.maximum(orders, 1)
        avg_p = np.where(orders > 0, (precision * counted).sum(axis=-1) / safe, 0.0)
        avg_r = np.where(orders > 0, (recall * counted).sum(axis=-1) / safe, 0.0)
        factor = CHRF_BETA**2
        denominator = factor * avg_p + avg_r
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(avg_p + avg_r > 0, 100 * (1 + factor) * avg_p * avg_r / denominator, 0.0)


def corpus_scores() -> list[CorpusScore]:
    """The registered metrics whose intervals resample test sentences."""
    from unlearn_study.metrics import REGISTRY

    return [m for m in REGISTRY.values() if isinstance(m, CorpusScore)]
