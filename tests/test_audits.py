"""The audits' measures on synthetic tables with a known answer, and quantisation on a real
tiny fairseq model (docs/METHOD.md, *Audits*)."""

import numpy as np
import pandas as pd
import pytest

from unlearn_study.analysis import audits, calibration
from unlearn_study.backends.fairseq import scoring
from unlearn_study.metrics import core
from unlearn_study.study import audit

POOLED = {"mode": "pooled", "seeds_per_half": 1}


def evaluation(bits_forget, bits_population, tokens_forget, tokens_population, out_forget=None, out_population=None):
    forget = pd.DataFrame(
        {
            "group": "forget",
            "example_id": [f"f{i}" for i in range(len(bits_forget))],
            "target_len": tokens_forget - 1,
            "bits": bits_forget,
            "bits_out": out_forget if out_forget is not None else np.nan,
        }
    )
    population = pd.DataFrame(
        {
            "group": "population",
            "example_id": [f"p{i}" for i in range(len(bits_population))],
            "target_len": tokens_population - 1,
            "bits": bits_population,
            "bits_out": out_population if out_population is not None else np.nan,
        }
    )
    return pd.concat([forget, population], ignore_index=True).assign(relearnt_on=False, example_kind=None)


@pytest.mark.parametrize("returned", [0.0, 0.5, 1.0])
def test_recovery_is_the_share_returned_beyond_the_population_and_controls_stay_near_zero(returned):
    """Unlearning raised each forget example's bits by ``removed``; a variant lowers every
    example by 0.3 bits per token (the general rise) and the forget set by ``returned`` x
    removed more: recovery is ``returned``, the controls' (never-trained members measured
    the same way) about 0."""
    rng = np.random.default_rng(0)
    n_forget, n_population = 10, 400
    tokens_f, tokens_p = rng.integers(5, 20, n_forget) + 1.0, rng.integers(5, 20, n_population) + 1.0
    original_f, original_p = rng.normal(40, 5, n_forget), rng.normal(60, 8, n_population)
    removed = rng.uniform(5, 15, n_forget)
    unlearnt_f, unlearnt_p = original_f + removed, original_p + rng.normal(0, 0.5, n_population)
    general = 0.3
    variant_f = unlearnt_f - general * tokens_f - returned * removed
    variant_p = unlearnt_p - general * tokens_p + rng.normal(0, 0.05, n_population) * tokens_p
    result = audits.recovery(
        evaluation(original_f, original_p, tokens_f, tokens_p),
        evaluation(unlearnt_f, unlearnt_p, tokens_f, tokens_p),
        evaluation(variant_f, variant_p, tokens_f, tokens_p),
    )
    assert result["recovery"] == pytest.approx(returned, abs=0.05)
    assert abs(result["control_recovery"]) < 0.05
    assert result["removed_bits"] == pytest.approx(removed.mean())


def test_nothing_removed_gives_no_recovery_share():
    tokens = np.full(4, 10.0)
    same = evaluation(np.full(4, 30.0), np.full(20, 50.0), tokens, np.full(20, 10.0))
    assert np.isnan(audits.recovery(same, same, same)["recovery"])


def test_auc_and_true_positive_rate_at_one_percent():
    rng = np.random.default_rng(1)
    positives, negatives = rng.normal(1, 1, 300), rng.normal(0, 1, 2000)
    expected = (positives[:, None] > negatives[None, :]).mean()
    assert audits.auc(positives, negatives) == pytest.approx(expected)
    assert audits.auc([1.0, 1.0], [1.0]) == 0.5
    tokens = np.full(300, 9.0)
    rows = evaluation(
        bits_forget=np.zeros(300),
        bits_population=np.zeros(2000),
        tokens_forget=tokens + 1,
        tokens_population=np.full(2000, 10.0),
        out_forget=positives * np.sqrt(10),
        out_population=negatives * np.sqrt(10),
    )
    found = audits.membership(rows, "id", POOLED)
    assert found["auc"] == pytest.approx(expected)
    assert found["tpr_at_1pct_fpr"] == pytest.approx((positives > np.quantile(negatives, 0.99)).mean(), abs=0.01)


def per_example_evaluation(shift_in_sds: float, seeds: int = 4, n_forget: int = 300, n_population: int = 2000):
    """Examples whose out-models disagree by very different amounts (sd from 0.2 to 5 bits);
    the audited model's bits are one more never-trained draw, lowered by ``shift_in_sds``
    of the example's own spread for the forget set."""
    rng = np.random.default_rng(7)
    rows = []
    for group, n, shift in (("forget", n_forget, shift_in_sds), ("population", n_population, 0.0)):
        mean, sd = rng.normal(50, 10, n), np.exp(rng.uniform(np.log(0.2), np.log(5.0), n))
        out = mean[:, None] + sd[:, None] * rng.standard_normal((n, seeds))
        rows.append(
            pd.DataFrame(
                {
                    "group": group,
                    "example_id": [f"{group}{i}" for i in range(n)],
                    "target_len": 9,
                    "bits": mean + sd * (rng.standard_normal(n) - shift),
                    "bits_out": core.lme(out, axis=1),
                    "bits_out_mean": out.mean(axis=1),
                    "bits_out_sd": out.std(axis=1, ddof=1),
                }
            )
        )
    return pd.concat(rows, ignore_index=True).assign(relearnt_on=False, example_kind=None)


def test_per_example_membership_uses_each_examples_own_out_model_spread():
    """With several seeds per half the statistic is the calibrated test's per-example t.
    Where examples' out-models disagree by very different amounts (8 seeds per half), it
    finds a forget set lowered by 2 of its own standard deviations better than the pooled
    form (AUC 0.88 against 0.86, TPR at 1% FPR 0.25 against 0.17; docs/METHOD.md gives 4
    seeds' figures), and a never-trained forget set stays at chance."""
    per_example = {"mode": "per_example", "seeds_per_half": 8}
    rows = per_example_evaluation(shift_in_sds=2.0, seeds=8)
    forget = rows[rows["group"] == "forget"]
    expected = calibration.t_statistic(forget["bits_out_mean"], forget["bits_out_sd"], 8, forget["bits"])
    np.testing.assert_allclose(audits.lira_statistic(forget, per_example), expected)
    found, pooled = audits.membership(rows, "id", per_example), audits.membership(rows, "id", POOLED)
    assert found["auc"] > pooled["auc"] + 0.02 and found["tpr_at_1pct_fpr"] > pooled["tpr_at_1pct_fpr"] + 0.05
    null = audits.membership(per_example_evaluation(shift_in_sds=0.0, seeds=8), "id", per_example)
    assert null["auc"] == pytest.approx(0.5, abs=0.05)
    assert null["tpr_at_1pct_fpr"] < 0.04


def test_weight_rounding_keeps_at_most_the_levels_of_its_width(tiny_model):
    model = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir)
    four = audit.quantised(model, 4)
    for name, parameter in four.model.named_parameters():
        if parameter.dim() >= 2:
            row = parameter.detach().view(parameter.shape[0], -1)[0]
            assert len(row.unique()) <= 15, name
    assert next(model.model.parameters()).data_ptr() != next(four.model.parameters()).data_ptr()


@pytest.mark.parametrize("bits", [8, 4])
def test_quantised_models_score_close_to_the_original(tiny_model, bits):
    """int8 weight rounding moves bits/token a little, int4 more;
    both leave a working model and the original untouched."""
    model = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir)
    src, tgt = tiny_model.lines("valid")
    pairs = scoring.encode_pairs(model.src_dict, model.tgt_dict, src[:50], tgt[:50], max_tokens=500)
    before = scoring.score(model, pairs)
    after = scoring.score(audit.quantised(model, bits), pairs)
    assert np.isfinite(after).all()
    tokens = pairs.target_lengths + 1
    shift = np.abs(after - before) / tokens
    assert shift.mean() < (0.05 if bits == 8 else 1.0) and shift.max() > 0
    np.testing.assert_array_equal(scoring.score(model, pairs), before)
