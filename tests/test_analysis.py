"""The analysis core (units, bootstrap, groups, claims) on small hand-made run tables.

Six units, all method ``gradient_ascent``, model seed 1, four forget examples each
(target_len 3, so the pooled statistic is GenEx / sqrt(3 + 1) = GenEx / 2), evaluated
at steps 0, 2, 4, 6; ``claims.fixed_step`` is 4, tau 0, alpha 0.05:

    id-difficulty-easy-r1     unlearnt (calibrated) at step 2, mean GenEx <= 0 at step 6
    id-difficulty-easy-r2     never unlearnt (censored): costs read at the last step, 6
    id-difficulty-hard-r1     the only replicate of its bucket
    ood-memorisation-high-r1  DIVERGED: evaluated at steps 0 and 2 only, never at 4
    ood-memorisation-high-r2  unlearnt at step 2 (by the OOD band only), stays so
    ood-memorisation-high-r3  unlearnt at step 4 (GenEx exactly on the band's edge)

Calibrated bands (pooled): ID [-1, 1] (indistinguishable iff |GenEx| <= 2), OOD [-2, 2]
(iff |GenEx| <= 4). ``calibration.unlearnt_count(4, 0.05)`` = 3: for X ~ Binomial(4,
0.95), P(X <= 2) = 1 - 0.95^4 - 4 * 0.95^3 * 0.05 = 1 - 0.81450625 - 0.171475 = 0.014 <
0.05 and P(X <= 3) = 1 - 0.81450625 = 0.185 >= 0.05, so 3 of 4 examples must be
indistinguishable. Every expected number below is worked out by hand from these tables.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import sacrebleu

from unlearn_study import metrics
from unlearn_study.analysis import calibration, claims, groups, uncertainty, units

METHOD = "gradient_ascent"
SCHEDULE = [0, 2, 4, 6]
FIXED_STEP, TAU, ALPHA = 4, 0.0, 0.05
DIVERGED = "diverged: loss nan at step 3"

# Per forget set: GenEx of its 4 examples at each evaluated step, and the per-step columns
# (BLEU, chrF, trained / never-trained neighbours' Δ bits/token, retain bits/token).
RUNS = {
    "id-difficulty-easy-r1": {
        # indistinguishable (|g| <= 2): 0, 3, 3, 1 -> unlearnt at 2, window ends at 4; means 8, 3, 3, -3
        "genex": [[8, 8, 8, 8], [2, 1, 2, 7], [1, 2, 1, 8], [-5, -6, -3, 2]],
        "bleu": [30, 28, 25, 21],
        "chrf": [50, 47, 44, 40],
        "trained": [0, 0.5, 1.0, 2.0],
        "unseen": [0, 0.25, 0.5, 1.0],
        "retain": [2.0, 2.5, 3.0, 4.0],
    },
    "id-difficulty-easy-r2": {
        # never indistinguishable, mean never <= 0: censored by both rules
        "genex": [[8, 8, 8, 8], [6, 6, 6, 6], [4, 4, 4, 4], [3, 3, 3, 3]],
        "bleu": [30, 29, 26, 24],
        "chrf": [50, 49, 48, 46],
        "trained": [0, 0.2, 0.4, 0.8],
        "unseen": [0, 0.1, 0.2, 0.3],
        "retain": [2.0, 2.1, 2.2, 2.6],
    },
    "id-difficulty-hard-r1": {
        # indistinguishable 0, 3, 4, 4 -> unlearnt at 2, stays; means 5, 3, 0, 0 -> tau at 4
        "genex": [[5, 5, 5, 5], [2, 2, 1, 7], [1, 0, -1, 0], [1, -1, 0, 0]],
        "bleu": [30, 29, 27, 27],
        "chrf": [50, 49, 48, 47],
        "trained": [0, 0.3, 0.5, 0.6],
        "unseen": [0, 0.05, 0.1, 0.2],
        "retain": [2.0, 2.05, 2.1, 2.2],
    },
    "ood-memorisation-high-r1": {
        # diverged after step 2: indistinguishable (|g| <= 4) 0, 0; means 9, 7
        "genex": [[9, 9, 9, 9], [7, 5, 9, 7]],
        "bleu": [30, 24],
        "chrf": [50, 45],
        "trained": [0, 0.4],
        "unseen": [0, 0.1],
        "retain": [2.0, 2.4],
    },
    "ood-memorisation-high-r2": {
        # indistinguishable (|g| <= 4) 0, 3, 3, 4 -> unlearnt at 2, stays; means 9, 5, 2, -1
        # (under the ID band, |g| <= 2, step 2 would count 0)
        "genex": [[9, 9, 9, 9], [3, 3, 4, 10], [1, 0, -1, 8], [0, -1, -2, -1]],
        "bleu": [30, 27, 22, 18],
        "chrf": [50, 46, 40, 35],
        "trained": [0, 0.6, 0.9, 1.2],
        "unseen": [0, 0.2, 0.3, 0.4],
        "retain": [2.0, 2.2, 2.5, 3.0],
    },
    "ood-memorisation-high-r3": {
        # indistinguishable 0, 0, 4 (4 / 2 = 2.0 is on the band's edge: inside), 4 -> unlearnt
        # at 4, stays; means 9, 8, 3, 3: never <= 0
        "genex": [[9, 9, 9, 9], [8, 8, 8, 8], [4, 4, 4, 0], [3, 3, 3, 3]],
        "bleu": [30, 29, 27, 24],
        "chrf": [50, 48, 45, 43],
        "trained": [0, 0.1, 0.5, 0.7],
        "unseen": [0, 0.1, 0.2, 0.3],
        "retain": [2.0, 2.1, 2.3, 2.4],
    },
}
# The same for every unit: the other metrics' per-step columns.
COMMON = {
    "test_bpt": [3.0, 3.5, 4.0, 5.0],
    "extraction_rate": [0.5, 0.25, 0.25, 0.0],
    "test_exact_match": [0.1, 0.1, 0.05, 0.0],
    "forget_bpt": [1.0, 2.0, 3.0, 4.0],
    "exposure_rank_mean": [6.0, 4.0, 2.0, 1.0],
    "exposure_skewnorm_mean": [9.0, 6.0, 3.0, 1.5],
}
N_EXAMPLES, TARGET_LEN = 4, 3


def describe(forget_set: str) -> dict:
    kind, grouping, bucket, replicate = forget_set.split("-")
    replicate = int(replicate.removeprefix("r"))
    return {
        "method": METHOD,
        "batch": "all",
        "forget_set": forget_set,
        "seed": 1,
        "grouping": grouping,
        "bucket": bucket,
        "replicate": replicate,
        "half": "AB"[(replicate - 1) % 2],
        "kind": kind,
    }


def run_tables(forget_set: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-step and per-example tables of one unit, as the unlearn rule writes them."""
    run, unit = RUNS[forget_set], describe(forget_set)
    kind = unit.pop("kind")
    evaluated = SCHEDULE[: len(run["genex"])]
    status = "ok" if len(evaluated) == len(SCHEDULE) else DIVERGED
    step_rows, example_rows = [], []
    for i, step in enumerate(evaluated):
        genex = run["genex"][i]
        step_rows.append(
            {
                "step": step,
                "loss": 1.0 + i,
                "genex_mean": float(np.mean(genex)),
                "relex_mean": float(np.mean(genex)) - 1.0,  # relex = genex - 1 per example
                **{column: values[i] for column, values in COMMON.items()},
                "bleu": float(run["bleu"][i]),
                "chrf": float(run["chrf"][i]),
                "neighbour_trained_delta_bpt": run["trained"][i],
                "neighbour_unseen_delta_bpt": run["unseen"][i],
                "retain_bpt": run["retain"][i],
                "bleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.4.0",
                "chrf_signature": "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.4.0",
                **unit,
                "kind": kind,
                "status": status,
            }
        )
        for j, g in enumerate(genex):
            bits = 20.0 - g
            example_rows.append(
                {
                    "example_id": f"{forget_set}-e{j}",
                    "kind": kind,
                    "repetitions": 1,
                    "diff_tercile": "easy",
                    "mem_tercile": "high",
                    "target_len": TARGET_LEN,
                    "step": step,
                    "bits": bits,
                    "bpt": bits / (TARGET_LEN + 1),
                    "genex": float(g),
                    "relex": float(g) - 1.0,
                    "exposure_rank": 1.0,
                    "exposure_skewnorm": 1.0,
                    **unit,
                }
            )
    return pd.DataFrame(step_rows), pd.DataFrame(example_rows)


def calibrations() -> pd.DataFrame:
    """As ``calibration.calibrate`` returns them, one row per kind."""
    common = {"mode": "pooled", "alpha": ALPHA, "seeds_per_half": 1, "n_fit": 100, "n_holdout": 100}
    return pd.DataFrame(
        [
            {"kind": "id", **common, "band_low": -1.0, "band_high": 1.0, "fpr": 0.05, "fpr_low": 0.0, "fpr_high": 0.1},
            {"kind": "ood", **common, "band_low": -2.0, "band_high": 2.0, "fpr": 0.05, "fpr_low": 0.0, "fpr_high": 0.1},
        ]
    )


def example_table(example_ids) -> pd.DataFrame:
    ids = sorted(set(example_ids))
    return pd.DataFrame({"example_id": ids, "bits_out_mean": 20.0, "bits_out_sd": 1.0})


def all_tables(forget_sets=tuple(RUNS)):
    tables = [run_tables(name) for name in forget_sets]
    steps = pd.concat([s for s, _ in tables], ignore_index=True)
    examples = pd.concat([e for _, e in tables], ignore_index=True)
    return steps, examples


def unit_table(forget_sets=tuple(RUNS)):
    steps, examples = all_tables(forget_sets)
    steps, examples = units.annotate(steps, examples, example_table(examples["example_id"]), calibrations())
    return units.per_unit(steps, examples, tau=TAU, alpha=ALPHA, fixed_step=FIXED_STEP)


def unit(table: pd.DataFrame, forget_set: str) -> pd.Series:
    rows = table[table["forget_set"] == forget_set]
    assert len(rows) == 1
    return rows.iloc[0]


# Test translations: four 8-word references; a unit's hypothesis of sentence j at a step
# has its last `damage` words replaced by "zz", damage = step // 2 * (1 + u % 2) + j % 2
# (u: the unit's index in RUNS), so sentences and units differ and step 0 is not perfect.
REFERENCES = [
    "the old cat sat on the warm mat today",
    "a small dog ran across the green park",
    "we drink hot tea every single cold morning",
    "she reads old books in the quiet library",
]


def hypothesis(u: int, step: int, j: int) -> str:
    words = REFERENCES[j].split()
    damage = min(len(words) - 1, step // 2 * (1 + u % 2) + j % 2)
    return " ".join(words[: len(words) - damage] + ["zz"] * damage)


def translations() -> pd.DataFrame:
    rows = []
    for u, forget_set in enumerate(RUNS):
        for step in SCHEDULE[: len(RUNS[forget_set]["genex"])]:
            for j in range(len(REFERENCES)):
                rows.append(
                    {
                        "method": METHOD,
                        "batch": "all",
                        "forget_set": forget_set,
                        "seed": 1,
                        "step": step,
                        "sentence": j,
                        "hypothesis": hypothesis(u, step, j),
                    }
                )
    # shuffled: resamples must put each run's hypotheses back in sentence order
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


N_RESAMPLES, BOOT_SEED = 40, 3


@pytest.fixture(scope="module")
def table():
    return unit_table()


@pytest.fixture(scope="module")
def boot(table):
    return uncertainty.uncertainty(
        table, translations(), REFERENCES, n=N_RESAMPLES, level=0.95, seed=BOOT_SEED, max_step=SCHEDULE[-1]
    )


# --- units.annotate -------------------------------------------------------------------


def test_unlearnt_count_of_four_examples_is_three():
    assert calibration.unlearnt_count(N_EXAMPLES, ALPHA) == 3  # see the module docstring


def test_annotate_counts_indistinguishable_examples_with_the_band_of_their_kind():
    steps, examples = all_tables()
    steps, examples = units.annotate(steps, examples, example_table(examples["example_id"]), calibrations())
    assert len(steps) == 4 + 4 + 4 + 2 + 4 + 4  # one row per evaluated step, none added

    def counts(forget_set):
        rows = steps[steps["forget_set"] == forget_set].sort_values("step")
        return rows["n_indistinguishable"].tolist(), rows["indistinguishable_share"].tolist()

    assert counts("id-difficulty-easy-r1") == ([0, 3, 3, 1], [0.0, 0.75, 0.75, 0.25])
    assert counts("id-difficulty-easy-r2") == ([0, 0, 0, 0], [0.0, 0.0, 0.0, 0.0])
    assert counts("ood-memorisation-high-r1") == ([0, 0], [0.0, 0.0])
    # OOD band |g| <= 4: GenEx 3, 3, 4, 10 at step 2 gives 3 (the ID band would give 0)
    assert counts("ood-memorisation-high-r2") == ([0, 3, 3, 4], [0.0, 0.75, 0.75, 1.0])
    assert counts("ood-memorisation-high-r3") == ([0, 0, 4, 4], [0.0, 0.0, 1.0, 1.0])  # 4 / 2 = 2.0: inside
    assert (steps["n_examples"] == 4).all()
    one = examples[(examples["forget_set"] == "id-difficulty-easy-r1") & (examples["step"] == 2)]
    assert one.sort_values("example_id")["indistinguishable"].tolist() == [True, True, True, False]  # 2, 1, 2, 7


def test_annotate_per_example_mode_uses_the_example_table():
    """per_example: t = (mean_out - bits) / (sd_out * sqrt(1 + 1/S)); with S = 3 and
    sd_out = 3 the denominator is 3 * sqrt(4/3) = 2 sqrt(3)."""
    steps, examples = run_tables("id-difficulty-easy-r1")
    steps, examples = steps[steps["step"] == 0], examples[examples["step"] == 0].copy()
    examples["bits"] = [14.0, 12.0, 20.0 - 2 * np.sqrt(3) * 2.5, 26.0]
    # t = 6 / (2 sqrt 3) = sqrt 3 = 1.73 (inside +-2); 8 / (2 sqrt 3) = 2.31 (outside); 2.5 (outside);
    # -6 / (2 sqrt 3) = -1.73 (inside)
    out = pd.DataFrame({"example_id": examples["example_id"], "bits_out_mean": 20.0, "bits_out_sd": 3.0})
    band = calibrations().iloc[:1].assign(mode="per_example", seeds_per_half=3, band_low=-2.0, band_high=2.0)
    steps, examples = units.annotate(steps, examples, out, band)
    assert examples["indistinguishable"].tolist() == [True, False, False, True]
    assert steps["n_indistinguishable"].tolist() == [2]


# --- units.per_unit -------------------------------------------------------------------


def test_a_unit_unlearnt_at_a_known_step(table):
    u = unit(table, "id-difficulty-easy-r1")
    assert (u["kind"], u["grouping"], u["bucket"], u["replicate"], u["half"]) == ("id", "difficulty", "easy", 1, "A")
    assert u["status"] == "ok" and u["n_examples"] == 4 and u["share_step0"] == 0.0
    # calibrated: counts 0, 3, 3, 1 with 3 needed -> first at 2, run ends at 4, not to the end
    assert (u["steps_calibrated"], u["window_end"], u["stays_unlearnt"]) == (2.0, 4.0, False)
    # tau rule: mean GenEx 8, 3, 3, -3 -> first <= 0 at step 6
    assert u["steps_tau"] == 6.0
    # per example GenEx over steps: (8,2,1,-5) -> 6, (8,1,2,-6) -> 6, (8,2,1,-3) -> 6, (8,7,8,2) never
    assert u["reached"] == 0.75
    assert (u["unlearn_step"], u["unlearn_step_tau"], u["fixed_step"], u["last_step"]) == (2.0, 6.0, 4.0, 6.0)
    assert not u["censored"] and not u["censored_tau"]
    assert u["bleu_drop"] == 30 - 28  # at step 2
    assert u["chrf_drop"] == 50 - 47
    assert u["bleu_drop_fixed"] == 30 - 25  # at step 4
    assert u["bleu_drop_tau"] == 30 - 21 and u["chrf_drop_tau"] == 50 - 40  # at step 6
    assert u["bleu_drop_final"] == 30 - 21
    assert u["neighbour_gap"] == 0.5 - 0.25  # at step 2
    assert u["neighbour_gap_tau"] == 2.0 - 1.0  # at step 6
    assert (u["neighbour_trained_delta"], u["neighbour_unseen_delta"]) == (0.5, 0.25)
    assert u["retain_bpt_increase"] == 2.5 - 2.0
    # every metric at step 0, at the unlearning step (2) and at the last step (6)
    expected = {
        "genex": (8, 3, -3),
        "relex": (7, 2, -4),
        "exposure_rank": (6, 4, 1),
        "exposure_skewnorm": (9, 6, 1.5),
        "bpt": (1, 2, 4),
        "test_bpt": (3, 3.5, 5),
        "retain_bpt": (2, 2.5, 4),
        "neighbour_trained_delta_bpt": (0, 0.5, 2),
        "neighbour_unseen_delta_bpt": (0, 0.25, 1),
        "bleu": (30, 28, 21),
        "chrf": (50, 47, 40),
        "extracted": (0.5, 0.25, 0.0),
        "test_exact_match": (0.1, 0.1, 0.0),
    }
    for name, (step0, at_unlearning, final) in expected.items():
        assert u[f"{name}_step0"] == step0, name
        assert u[f"{name}_at_unlearning"] == at_unlearning, name
        assert u[f"{name}_final"] == final, name
    for metric in metrics.REGISTRY.values():  # a new metric gets its three columns too
        assert {f"{metric.name}_{r}" for r in ("step0", "at_unlearning", "final")} <= set(table.columns)


def test_other_units_unlearnt_by_the_rules(table):
    hard = unit(table, "id-difficulty-hard-r1")  # counts 0, 3, 4, 4; means 5, 3, 0, 0
    assert (hard["steps_calibrated"], hard["window_end"], hard["stays_unlearnt"]) == (2.0, 6.0, True)
    assert hard["steps_tau"] == 4.0 and hard["bleu_drop"] == 1 and hard["bleu_drop_tau"] == 3
    # examples (5,2,1,1) never <= 0, (5,2,0,..) -> 4, (5,1,-1,..) -> 4, (5,7,0,..) -> 4
    assert hard["reached"] == 0.75
    r2 = unit(table, "ood-memorisation-high-r2")  # counts 0, 3, 3, 4 under the OOD band
    assert (r2["steps_calibrated"], r2["window_end"], r2["stays_unlearnt"], r2["steps_tau"]) == (2.0, 6.0, True, 6.0)
    assert r2["reached"] == 1.0 and r2["bleu_drop"] == 3 and r2["bleu_drop_fixed"] == 8 and r2["bleu_drop_tau"] == 12
    r3 = unit(table, "ood-memorisation-high-r3")  # counts 0, 0, 4, 4; means 9, 8, 3, 3
    assert (r3["steps_calibrated"], r3["window_end"], r3["stays_unlearnt"]) == (4.0, 6.0, True)
    assert np.isnan(r3["steps_tau"]) and r3["censored_tau"] and not r3["censored"]
    assert (r3["unlearn_step"], r3["unlearn_step_tau"]) == (4.0, 6.0)
    assert r3["bleu_drop"] == 3 and r3["bleu_drop_tau"] == 6
    assert r3["reached"] == 0.25  # (9, 8, 4, 3) three times never <= 0; (9, 8, 0, 3) at 4
    assert r3["neighbour_gap"] == pytest.approx(0.5 - 0.2)


def test_a_never_unlearnt_unit_is_censored_and_read_at_its_last_step(table):
    u = unit(table, "id-difficulty-easy-r2")
    assert np.isnan(u["steps_calibrated"]) and np.isnan(u["window_end"]) and not u["stays_unlearnt"]
    assert np.isnan(u["steps_tau"]) and u["reached"] == 0.0
    assert u["censored"] and u["censored_tau"]
    assert u["unlearn_step"] == 6.0 and u["unlearn_step_tau"] == 6.0
    assert u["bleu_drop"] == 30 - 24 and u["chrf_drop"] == 50 - 46 and u["bleu_drop_tau"] == 30 - 24
    assert u["bleu_drop_fixed"] == 30 - 26
    assert u["neighbour_gap"] == pytest.approx(0.8 - 0.3)
    assert u["retain_bpt_increase"] == pytest.approx(2.6 - 2.0)
    assert (u["genex_at_unlearning"], u["bleu_at_unlearning"]) == (3.0, 24.0)


# --- a diverged unit: missing where it never got, never fatal --------------------------


def test_a_diverged_unit_is_missing_at_the_fixed_step_in_per_unit(table):
    u = unit(table, "ood-memorisation-high-r1")
    assert u["status"] == DIVERGED
    assert u["last_step"] == 2.0 and u["unlearn_step"] == 2.0 and u["censored"]  # never unlearnt, read at 2
    assert np.isnan(u["bleu_drop_fixed"])  # step 4 never evaluated
    assert u["bleu_drop"] == 30 - 24 and u["bleu_drop_final"] == 30 - 24 and u["chrf_drop"] == 50 - 45
    assert u["neighbour_gap"] == pytest.approx(0.4 - 0.1)
    assert (u["genex_final"], u["bleu_final"], u["test_bpt_final"]) == (7.0, 24.0, 3.5)
    assert table["bleu_drop_fixed"].isna().sum() == 1  # only the diverged unit


def test_a_diverged_unit_does_not_crash_resamples(table, boot):
    i = table.index[table["forget_set"] == "ood-memorisation-high-r1"][0]
    others = table.index != i
    assert np.isnan(boot.sentence_values["bleu_drop_fixed"][:, i]).all()
    assert np.isfinite(boot.sentence_values["bleu_drop_fixed"][:, others]).all()
    for quantity in ("bleu_drop", "chrf_drop", "bleu_drop_tau", "bleu_drop_final"):  # read at step 2: present
        assert np.isfinite(boot.sentence_values[quantity]).all(), quantity
    members = (table["kind"] == "ood").to_numpy()
    assert boot.usable("bleu_drop_fixed", members).sum() == 2 and boot.usable("bleu_drop", members).sum() == 3


def test_groups_count_the_diverged_unit_as_missing(boot):
    table = groups.groups(boot)
    ood = table[(table["kind"] == "ood") & (table["bucket"] == "all")].iloc[0]
    bucket = table[(table["grouping"] == "memorisation") & (table["bucket"] == "high")].iloc[0]
    for row in (ood, bucket):
        assert row["n_units"] == 3
        assert row["bleu_drop_fixed_missing"] == 1 and row["bleu_drop_missing"] == 0
        assert row["bleu_drop_fixed"] == (8 + 3) / 2  # r2 and r3; r1 left out
        assert np.isfinite(row["bleu_drop_fixed_low"]) and np.isfinite(row["bleu_drop_fixed_high"])
        assert row["bleu_drop"] == (6 + 3 + 3) / 3
        assert row["unlearn_step"] == pytest.approx((2 + 2 + 4) / 3)
        assert row["censored"] == 1 and row["censored_tau"] == 2  # r1 never; r1 and r3 by tau
    id_ = table[(table["kind"] == "id") & (table["bucket"] == "all")].iloc[0]
    assert id_["bleu_drop_fixed_missing"] == 0 and id_["bleu_drop_fixed"] == (5 + 4 + 3) / 3
    assert id_["bleu_drop"] == (2 + 6 + 1) / 3 and id_["bleu_drop_tau"] == (9 + 6 + 3) / 3
    assert id_["unlearn_step_tau"] == pytest.approx((6 + 6 + 4) / 3)
    assert id_["neighbour_gap"] == pytest.approx((0.25 + 0.5 + 0.25) / 3)
    assert id_["censored"] == 1 and id_["censored_tau"] == 1


def test_claims_report_the_diverged_unit_as_missing(boot):
    # ID against OOD reads one grouping both kinds have: here, all six sets relabelled as one
    one_grouping = dataclasses.replace(boot, units=boot.units.assign(grouping="difficulty"))
    table = claims.table(one_grouping, min_base_bleu=5.0, base_bleu=30.0)
    c2 = table[table["claim"] == "C2"].iloc[0]
    # ID: 5, 4, 3 -> 4; OOD: r2 8, r3 3 -> 5.5 (r1 diverged before step 4)
    assert c2["estimate"] == 4 - 5.5
    assert (c2["n_first"], c2["n_second"], c2["missing"], c2["censored"]) == (3, 2, 1, 0)
    assert np.isfinite(c2["low"]) and np.isfinite(c2["high"])
    assert c2["note"] == "1 run(s) never reached the step read (diverged): left out"
    c1b = table[(table["claim"] == "C1b") & (table["rule"] == "calibrated")].iloc[0]
    assert c1b["missing"] == 0 and c1b["estimate"] == pytest.approx((6 + 3 + 3) / 3 - (2 + 6 + 1) / 3)


# --- a bucket with one replicate ------------------------------------------------------


def test_a_bucket_of_one_unit_has_a_mean_and_no_interval(boot):
    table = groups.groups(boot)
    hard = table[(table["bucket"] == "hard")]
    assert len(hard) == 1
    hard = hard.iloc[0]
    assert (hard["method"], hard["kind"], hard["grouping"], hard["n_units"]) == (METHOD, "id", "difficulty", 1)
    assert hard["unlearn_step"] == 2 and hard["bleu_drop"] == 1 and hard["bleu_drop_fixed"] == 3
    for quantity in ("unlearn_step", "bleu_drop", "bleu_drop_fixed", "neighbour_gap"):
        assert np.isnan(hard[f"{quantity}_low"]) and np.isnan(hard[f"{quantity}_high"]), quantity
        assert hard[f"{quantity}_missing"] == 0
    easy = table[(table["bucket"] == "easy")].iloc[0]
    assert easy["n_units"] == 2 and easy["bleu_drop"] == (2 + 6) / 2
    assert np.isfinite(easy["bleu_drop_low"]) and easy["bleu_drop_low"] <= easy["bleu_drop_high"]


def test_claims_on_a_bucket_of_one_unit_are_inconclusive(boot):
    table = claims.table(boot, min_base_bleu=5.0, base_bleu=30.0)
    c3b = table[(table["claim"] == "C3b") & (table["kind"] == "id")].set_index("rule")
    calibrated, tau = c3b.loc["calibrated"], c3b.loc["tau"]
    assert calibrated["estimate"] == 1 - (2 + 6) / 2  # hard - easy
    assert tau["estimate"] == 3 - (9 + 6) / 2
    for row in (calibrated, tau):
        assert row["verdict"] == "inconclusive" and np.isnan(row["low"]) and np.isnan(row["high"])
        assert (row["n_first"], row["n_second"], row["censored"]) == (1, 2, 1)  # easy-r2 never unlearnt
        assert row["note"] == "fewer than 2 forget sets in a group; 1 set(s) never unlearnt: read at the last step"


# --- bootstrap ------------------------------------------------------------------------


def test_resampled_bleu_and_chrf_drops_are_sacrebleu_on_the_resampled_sentences(table, boot):
    weights = uncertainty.sentence_weights(np.random.default_rng(BOOT_SEED), len(REFERENCES), N_RESAMPLES)
    assert (weights.sum(axis=1) == len(REFERENCES)).all()
    assert (weights[0] != 1).any() and len({tuple(w) for w in weights}) > 1  # resampling does something

    def score(scorer, u, step, picked):
        hyps = [hypothesis(u, step, j) for j in picked]
        return scorer().corpus_score(hyps, [[REFERENCES[j] for j in picked]]).score

    cases = [  # (forget set, quantity, scorer, step it is read at)
        ("id-difficulty-easy-r1", "bleu_drop", sacrebleu.BLEU, 2),
        ("id-difficulty-easy-r1", "bleu_drop_tau", sacrebleu.BLEU, 6),
        ("id-difficulty-easy-r1", "chrf_drop", sacrebleu.CHRF, 2),
        ("id-difficulty-easy-r2", "bleu_drop", sacrebleu.BLEU, 6),  # censored: the last step
        ("ood-memorisation-high-r2", "bleu_drop_fixed", sacrebleu.BLEU, 4),
    ]
    for forget_set, quantity, scorer, step in cases:
        i = int(table.index[table["forget_set"] == forget_set][0])
        u = list(RUNS).index(forget_set)
        for k in range(N_RESAMPLES):
            picked = np.repeat(np.arange(len(REFERENCES)), weights[k].astype(int))  # sentence j drawn w_kj times
            expected = score(scorer, u, 0, picked) - score(scorer, u, step, picked)
            assert boot.sentence_values[quantity][k, i] == pytest.approx(expected, abs=1e-9), (forget_set, quantity, k)
    # resample 0 spelled out: the sentences drawn and the BLEU drop of the first unit there
    picked = np.repeat(np.arange(4), weights[0].astype(int))
    before = sacrebleu.corpus_bleu([hypothesis(0, 0, j) for j in picked], [[REFERENCES[j] for j in picked]]).score
    after = sacrebleu.corpus_bleu([hypothesis(0, 2, j) for j in picked], [[REFERENCES[j] for j in picked]]).score
    assert boot.sentence_values["bleu_drop"][0, 0] == pytest.approx(before - after, abs=1e-9) and before > after


# --- groups.metric_table, groups.agreement ---------------------------------------------


def test_metric_table_means_per_method_kind_and_metric(boot):
    table = groups.metric_table(boot)
    assert len(table) == 2 * len(metrics.REGISTRY) and (table["n_units"] == 3).all()

    def row(kind, metric):
        return table[(table["kind"] == kind) & (table["metric"] == metric)].iloc[0]

    # ID units unlearn at steps 2, 6 (censored), 2; last steps 6, 6, 6
    assert tuple(row("id", "bleu")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        (30, (28 + 24 + 29) / 3, (21 + 24 + 27) / 3)  # 30, 27, 24
    )
    assert tuple(row("id", "genex")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        ((8 + 8 + 5) / 3, (3 + 3 + 3) / 3, (-3 + 3 + 0) / 3)  # 7, 3, 0
    )
    assert row("id", "retain_bpt")["at_unlearning"] == pytest.approx((2.5 + 2.6 + 2.05) / 3)
    # OOD units unlearn at steps 2 (diverged: its last), 2, 4; last steps 2, 6, 6
    assert tuple(row("ood", "bleu")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        (30, (24 + 27 + 27) / 3, (24 + 18 + 24) / 3)  # 30, 26, 22
    )
    assert tuple(row("ood", "genex")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        (9, (7 + 5 + 3) / 3, (7 - 1 + 3) / 3)  # 9, 5, 3
    )
    assert tuple(row("ood", "test_bpt")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        (3.0, (3.5 + 3.5 + 4.0) / 3, (3.5 + 5.0 + 5.0) / 3)
    )
    same = row("id", "bleu")  # every unit's step-0 BLEU is 30: so is every resampled mean
    assert (same["step0_low"], same["step0_high"]) == (30.0, 30.0)
    assert same["final_low"] < same["final_high"]


def test_agreement_of_relex_and_genex_by_hand():
    examples = pd.DataFrame(
        {
            "method": METHOD,
            "batch": "all",
            "kind": ["id", "id", "id", "ood", "ood", "ood"],
            "relex": [1.0, 2.0, 3.0, 3.0, 2.0, 1.0],
            "genex": [2.0, 4.0, 7.0, 1.0, 2.0, np.nan],
        }
    )
    table = groups.agreement(examples).set_index("kind")
    # id: same order -> rho 1; |1-2| + |2-4| + |3-7| = 7 over 3
    assert table.loc["id", "n"] == 3 and table.loc["id", "spearman"] == pytest.approx(1.0)
    assert table.loc["id", "mae"] == pytest.approx(7 / 3)
    # ood: the NaN pair is dropped; (3, 1), (2, 2): opposite order -> rho -1; (2 + 0) / 2
    assert table.loc["ood", "n"] == 3 and table.loc["ood", "spearman"] == pytest.approx(-1.0)
    assert table.loc["ood", "mae"] == pytest.approx(1.0)


# --- claims.contrasts, units.QUANTITIES ------------------------------------------------


def test_contrasts_of_one_kind_and_the_fixed_step_contrast():
    one = claims.contrasts(["id"])  # no ID-vs-OOD claims (C1a, C1b, C2) with one kind
    assert [(c.claim, c.rule, c.quantity, c.censored) for c in one] == [
        ("C3a", "calibrated", "bleu_drop", "censored"),
        ("C3a", "tau", "bleu_drop_tau", "censored_tau"),
        ("C3b", "calibrated", "bleu_drop", "censored"),
        ("C3b", "tau", "bleu_drop_tau", "censored_tau"),
        ("C4", "calibrated", "neighbour_gap", "censored"),
        ("C4", "tau", "neighbour_gap_tau", "censored_tau"),
    ]
    c2 = [c for c in claims.contrasts(["id", "ood"]) if c.claim == "C2"]
    assert len(c2) == 1 and c2[0].quantity == "bleu_drop_fixed" and c2[0].censored is None
    # without matched levels: every set of the one grouping both kinds have (repetition here)
    one = {"grouping": "repetition"}
    assert (c2[0].first, c2[0].second, c2[0].claimed) == (({"kind": "id", **one},), ({"kind": "ood", **one},), ">")
    # matched repetition levels: one row per level and one pooled with equal weight
    matched = [c for c in claims.contrasts(["id", "ood"], ["1", "4"]) if c.claim == "C2"]
    assert [c.repetitions for c in matched] == ["1", "4", claims.POOLED]
    level = {"grouping": "repetition", "bucket": "4"}
    assert (matched[1].first, matched[1].second) == (({"kind": "id", **level},), ({"kind": "ood", **level},))
    assert len(matched[2].first) == 2 and matched[2].first[1] == {"kind": "id", **level}


def test_quantities_read_each_drop_at_its_step():
    read = {name: (q.metric, q.step) for name, q in units.QUANTITIES.items()}
    assert read == {
        "unlearn_step": (None, None),
        "unlearn_step_tau": (None, None),
        "bleu_drop": ("bleu", "unlearn_step"),
        "chrf_drop": ("chrf", "unlearn_step"),
        "bleu_drop_tau": ("bleu", "unlearn_step_tau"),
        "chrf_drop_tau": ("chrf", "unlearn_step_tau"),
        "bleu_drop_fixed": ("bleu", "fixed_step"),
        "bleu_drop_final": ("bleu", "last_step"),
        "neighbour_gap": (None, None),
        "neighbour_gap_tau": (None, None),
    }
    assert units.QUANTITIES["bleu_drop"].label == "BLEU drop at unlearning (calibrated)"
