"""The calibrated test on synthetic scores with a known spread between models."""

import numpy as np
import pandas as pd
import pytest

from unlearn_study.analysis import calibration

SIGMA = 0.8  # bits of disagreement per sqrt(target token) between two models that never saw an example


def synthetic_table(seeds: int, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A population no model saw: each model's bits = the example's own level + model noise
    growing with the square root of the target length."""
    rng = np.random.default_rng(seed)
    target_len = rng.integers(4, 30, n)
    level = rng.normal(60, 10, n)
    table = pd.DataFrame({"example_id": [f"p{i}" for i in range(n)], "kind": "id_population", "target_len": target_len})
    for half in ("A", "B"):
        for s in range(1, seeds + 1):
            table[f"bits_{half}_seed{s}"] = level + SIGMA * np.sqrt(target_len + 1) * rng.normal(size=n)
    return table


@pytest.mark.parametrize("mode, seeds", [("pooled", 1), ("pooled", 3), ("per_example", 5)])
def test_false_positive_rate_is_near_alpha_on_never_trained_data(mode, seeds):
    result = calibration.calibrate(synthetic_table(seeds), "id", alpha=0.05, mode=mode, holdout=0.5, seed=1)
    assert result["mode"] == mode and result["n_holdout"] == 1000
    assert 0.03 <= result["fpr"] <= 0.07
    assert result["fpr_low"] <= result["fpr"] <= result["fpr_high"]


def test_pooled_band_matches_the_known_spread():
    result = calibration.calibrate(synthetic_table(1), "id", alpha=0.05, mode="pooled", holdout=0.5, seed=1)
    # with one seed per half the null statistic is a difference of two models: sd sqrt(2) sigma
    assert result["band_high"] == pytest.approx(1.96 * np.sqrt(2) * SIGMA, rel=0.1)
    assert result["band_low"] == pytest.approx(-1.96 * np.sqrt(2) * SIGMA, rel=0.1)


@pytest.mark.parametrize("mode, seeds", [("pooled", 1), ("per_example", 5)])
def test_memorised_and_over_unlearnt_examples_are_detected(mode, seeds):
    table = synthetic_table(seeds, seed=2)
    band = calibration.calibrate(table, "id", alpha=0.05, mode=mode, holdout=0.5, seed=1)
    members = table.iloc[:500]
    out = members[[f"bits_B_seed{s}" for s in range(1, seeds + 1)]].to_numpy()
    tokens = np.sqrt(members["target_len"].to_numpy() + 1)

    def rows(bits):
        from unlearn_study.metrics.core import lme

        return pd.DataFrame(
            {
                "genex": lme(out, axis=1) - bits,
                "bits": bits,
                "target_len": members["target_len"],
                "bits_out_mean": out.mean(axis=1),
                "bits_out_sd": out.std(axis=1, ddof=1) if seeds > 1 else np.nan,
            }
        )

    never_trained = members["bits_A_seed1"].to_numpy()
    assert calibration.indistinguishable(rows(never_trained), band).mean() > 0.9
    memorised = never_trained - 8 * SIGMA * tokens  # far more likely than any never-trained model makes it
    assert calibration.indistinguishable(rows(memorised), band).mean() < 0.1
    over_unlearnt = never_trained + 8 * SIGMA * tokens  # far less likely: also a membership signal
    assert calibration.indistinguishable(rows(over_unlearnt), band).mean() < 0.1


def test_auto_mode_takes_per_example_only_with_enough_seeds():
    assert calibration.resolve_mode("auto", 1) == "pooled"
    assert calibration.resolve_mode("auto", calibration.PER_EXAMPLE_MIN_SEEDS) == "per_example"


def test_unlearnt_count_and_window():
    assert calibration.unlearnt_count(10, 0.05) == 8  # P(Binomial(10, 0.95) >= 8) = 0.988
    steps = [0, 5, 10, 20, 30]
    assert calibration.unlearnt_window(steps, [0, 8, 10, 3, 2], 10, 0.05) == (5.0, 10.0, False)
    assert calibration.unlearnt_window(steps, [0, 2, 9, 9, 8], 10, 0.05) == (10.0, 30.0, True)
    first, end, stays = calibration.unlearnt_window(steps, [0, 1, 2, 3, 7], 10, 0.05)
    assert np.isnan(first) and np.isnan(end) and not stays
