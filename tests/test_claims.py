"""Claims: contrasts, intervals and verdicts on hand-made unit tables."""

import numpy as np
import pandas as pd

from unlearn_study.analysis import claims
from unlearn_study.analysis.uncertainty import Uncertainty


def units_table(ood_steps, id_steps, n=8, seed=0) -> pd.DataFrame:
    """n units per bucket: ID and OOD, difficulty and memorisation terciles."""
    rng = np.random.default_rng(seed)
    rows = []
    for kind, steps in (("id", id_steps), ("ood", ood_steps)):
        for grouping, buckets in (("difficulty", ("easy", "hard")), ("memorisation", ("low", "high"))):
            for bucket in buckets:
                for _ in range(n):
                    high_cost = bucket in ("high", "easy")
                    rows.append(
                        {
                            "method": "gradient_ascent",
                            "batch": "all",
                            "kind": kind,
                            "grouping": grouping,
                            "bucket": bucket,
                            "censored": False,
                            "unlearn_step": steps + rng.normal(0, 1),
                            "bleu_drop": (2.0 if high_cost else 0.5) + rng.normal(0, 0.2),
                            "bleu_drop_fixed": (3.0 if kind == "id" else 1.0) + rng.normal(0, 0.2),
                            "neighbour_gap": rng.normal(0, 0.1),
                        }
                    )
    return every_rule(pd.DataFrame(rows))


def every_rule(units: pd.DataFrame) -> pd.DataFrame:
    """The specific test and the tau rule read the same costs here (each rule's columns are
    tested alike); every set had something to unlearn by each rule."""
    copied = ("censored", "unlearn_step", "bleu_drop", "neighbour_gap")
    units = units.assign(detectable=True)
    return units.assign(
        **{f"{c}{suffix}": units[c] for suffix in ("_specific", "_tau") for c in (*copied, "detectable")}
    )


def boot(units) -> Uncertainty:
    """No test sentences here: the intervals are over the units alone."""
    return Uncertainty(units.assign(half="A", seed=1), {}, level=0.95, max_step=60.0, by_model=False)


def row(table, claim, kind, rule="strict test"):
    rows = table[(table["claim"] == claim) & (table["kind"] == kind)]
    return rows[rows["statistic"].str.contains(rule) | (claim == "C2")].iloc[0]


def test_verdicts_follow_the_intervals():
    table = claims.table(boot(units_table(ood_steps=30, id_steps=5)), min_base_bleu=5.0, base_bleu=10.0)
    c1a = row(table, "C1a", "ood vs id")
    assert c1a["verdict"] == "supported" and 23 < c1a["estimate"] < 27 and c1a["low"] > 0
    assert row(table, "C2", "id vs ood")["verdict"] == "supported"
    assert row(table, "C3a", "id")["verdict"] == "supported"  # high costs 2.0, low 0.5
    assert row(table, "C3b", "ood")["verdict"] == "supported"  # hard 0.5 < easy 2.0
    assert row(table, "C1b", "ood vs id")["verdict"] == "inconclusive"  # same drops for both kinds
    assert row(table, "C4", "id")["verdict"] == "inconclusive"  # neighbour gap centred on 0
    assert (table["n_first"] > 0).all() and set(table["claim"]) == {"C1a", "C1b", "C2", "C3a", "C3b", "C4"}
    assert len(table) == 3 * (2 + 3 * 2) + 1  # every rule: C1a, C1b and per kind C3a, C3b, C4; C2 once
    assert row(table, "C1a", "ood vs id", rule="tau")["verdict"] == "supported"
    assert row(table, "C1a", "ood vs id", rule="specific test")["verdict"] == "supported"
    assert (table["left_out"] == 0).all() and table["p_value"].between(0, 1).all()
    # effects this large survive Holm's adjustment over the 25 rows; the null ones stay inconclusive
    assert row(table, "C1a", "ood vs id")["verdict_holm"] == "supported"
    assert row(table, "C3a", "id")["verdict_holm"] == "supported"
    assert row(table, "C4", "id")["verdict_holm"] == "inconclusive"
    assert (table.loc[table["verdict"] == "inconclusive", "verdict_holm"] == "inconclusive").all()


def test_the_opposite_effect_is_contradicted_and_weak_models_get_no_verdict():
    table = claims.table(boot(units_table(ood_steps=5, id_steps=30)), min_base_bleu=5.0, base_bleu=10.0)
    assert row(table, "C1a", "ood vs id")["verdict"] == "contradicted"
    weak = claims.table(boot(units_table(ood_steps=30, id_steps=5)), min_base_bleu=5.0, base_bleu=0.6)
    assert (weak["verdict"] == "not assessed").all() and (weak["verdict_holm"] == "not assessed").all()
    assert weak["note"].str.contains("base BLEU 0.60 < claims.min_base_bleu 5.0").all()
    assert weak["estimate"].notna().all()  # the table stays complete


def test_a_group_of_one_unit_is_inconclusive():
    table = claims.table(boot(units_table(ood_steps=30, id_steps=5, n=1)), min_base_bleu=5.0, base_bleu=10.0)
    c3a = row(table, "C3a", "id")
    assert c3a["verdict"] == "inconclusive" and "fewer than 2" in c3a["note"]


# Steps to unlearn of repetition-grouping sets, in table order: (kind, level) -> one value per set.
LEVEL_STEPS = {("ood", "1"): [10, 12], ("id", "1"): [2, 4], ("ood", "4"): [30, 30, 30, 30], ("id", "4"): [5, 7]}


def repetition_units(level_steps: dict) -> pd.DataFrame:
    """Units of the repetition grouping, one per value, every cost 1.0 (only steps differ)."""
    return pd.DataFrame(
        [
            {
                "method": "gradient_ascent",
                "batch": "all",
                "kind": kind,
                "grouping": "repetition",
                "bucket": level,
                "censored": False,
                "unlearn_step": float(value),
                "bleu_drop": 1.0,
                "bleu_drop_fixed": 1.0,
                "neighbour_gap": 0.0,
            }
            for (kind, level), values in level_steps.items()
            for value in values
        ]
    )


def test_id_and_ood_are_compared_at_matched_levels_and_pooled_with_equal_weight():
    """C1a per repetition level and pooled: the mean of the levels' differences, each level
    weighing the same whatever its number of sets."""
    table = claims.table(boot(every_rule(repetition_units(LEVEL_STEPS))), min_base_bleu=5.0, base_bleu=10.0)
    c1a = table[(table["claim"] == "C1a") & (table["rule"] == "strict")].set_index("repetitions")
    assert list(c1a.index) == ["1", "4", claims.POOLED]
    assert c1a.loc["1", "estimate"] == 11 - 3 and c1a.loc["4", "estimate"] == 30 - 6
    assert c1a.loc[claims.POOLED, "estimate"] == ((11 + 30) / 2) - ((3 + 6) / 2)  # not (11*2+30*4)/6 - ...
    assert (c1a["n_first"].tolist(), c1a["n_second"].tolist()) == ([2, 4, 6], [2, 2, 4])
    assert c1a["left_out"].tolist() == [0, 0, 0]


def test_a_set_already_unlearnt_at_step_0_by_a_rule_is_left_out_of_that_rule_only():
    """One OOD set of level 4 (steps 30, like the others) is strict-unlearnt at step 0: the
    strict rows of level 4 and of the pooled contrast leave it out and count it; level 1
    and the other rules keep every set."""
    units = every_rule(repetition_units(LEVEL_STEPS))
    units.loc[4, "detectable"] = False  # the first OOD set of level 4
    table = claims.table(boot(units), min_base_bleu=5.0, base_bleu=10.0)
    strict = table[(table["claim"] == "C1a") & (table["rule"] == "strict")].set_index("repetitions")
    assert strict["estimate"].tolist() == [11 - 3, 30 - 6, (11 + 30) / 2 - (3 + 6) / 2]  # 30s either way
    assert (strict["n_first"].tolist(), strict["left_out"].tolist()) == ([2, 3, 5], [0, 1, 1])
    assert strict.loc["4", "note"].endswith(
        "1 set(s) already unlearnt at step 0 by this rule (nothing detectable): left out"
    )
    others = table[(table["rule"] != "strict") & (table["claim"] != "C2")]
    assert (others["left_out"] == 0).all()
    c2 = table[table["claim"] == "C2"]  # the fixed step reads no rule: every set
    assert (c2["left_out"] == 0).all() and c2.set_index("repetitions").loc["4", "n_second"] == 4
