"""Uncertainty: bootstrap intervals and verdicts, and BLEU/chrF from summed sentence statistics.

Every comparison the study reports carries a 95% interval (docs/METHOD.md, *Claims, with
uncertainty*). Units (forget sets, each with its unlearnt model seed) are resampled with
replacement within each compared group; BLEU and chrF are recomputed on test sentences
resampled with replacement, the same resample for every unit and step (paired, as
sacrebleu's paired bootstrap does). Group means are bootstrapped with the small-sample
correction that makes the bootstrap variance of a mean unbiased: each resampled mean is
``m + sqrt(n / (n - 1)) * (m* - m)``.
"""

from __future__ import annotations

import numpy as np

BLEU_ORDER = 4  # sacrebleu's default BLEU: 4-gram, exp smoothing, no effective order
CHRF_ORDER = 6  # sacrebleu's default chrF: character 6-grams, no word n-grams, beta 2
CHRF_BETA = 2.0


def sentence_statistics(hypotheses: list[str], references: list[str]) -> dict[str, np.ndarray]:
    """Per-sentence sufficient statistics of sacrebleu's default BLEU and chrF:
    ``{"bleu": (n, 2 + 2 * 4), "chrf": (n, 3 * 6)}`` (sacrebleu's own layout), so that
    the corpus score of any resample is a function of a weighted sum of rows."""
    import sacrebleu

    out = {}
    for name, metric in (("bleu", sacrebleu.BLEU()), ("chrf", sacrebleu.CHRF())):
        out[name] = np.asarray(metric._extract_corpus_statistics(hypotheses, [references]), dtype=np.float64)
    return out


def bleu_from_statistics(stats) -> np.ndarray:
    """sacrebleu's corpus BLEU from summed statistics ``(..., 10)``, vectorised over
    leading axes (exact: tested against ``sacrebleu.BLEU().corpus_score``)."""
    stats = np.asarray(stats, dtype=np.float64)
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


def chrf_from_statistics(stats) -> np.ndarray:
    """sacrebleu's corpus chrF from summed statistics ``(..., 18)``, vectorised."""
    stats = np.asarray(stats, dtype=np.float64).reshape(*np.shape(stats)[:-1], CHRF_ORDER, 3)
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
        score = np.where(avg_p + avg_r > 0, 100 * (1 + factor) * avg_p * avg_r / denominator, 0.0)
    return score


SCORERS = {"bleu": bleu_from_statistics, "chrf": chrf_from_statistics}


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
