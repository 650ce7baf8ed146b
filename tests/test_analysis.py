"""The analysis core (units, uncertainty, groups, claims, the tests' calibration) on small
hand-made run tables.

Seven units, all method ``gradient_ascent``, model seed 1, four forget examples each
(target_len 3, so the pooled statistic is GenEx / sqrt(3 + 1) = GenEx / 2). Each job's
TRACE has every step 0..6 (the diverged unit's 0..2); its full evaluations are at the
scheduled steps 0, 2, 4, 6 and at the first step each rule counts the set as unlearnt
(``trigger``). ``claims.fixed_step`` is 4, tau 0, alpha 0.05.

    id-difficulty-easy-r1     strict at step 3, specific at 5, tau at 6: all between or on
                              scheduled steps; costs read at the full evaluations there
    id-difficulty-easy-r2     never unlearnt by any rule (censored): read at the last step, 6
    id-difficulty-hard-r1     the only replicate of its bucket; strict at 2, tau at 4
    ood-memorisation-high-r1  DIVERGED after step 2: traced 0..2, evaluated at 0 and 2 only
    ood-memorisation-high-r2  strict at 2 (by the OOD band only), specific at 5, tau at 6
    ood-memorisation-high-r3  strict at 4 (GenEx exactly on the band's edge); never tau
    ood-memorisation-high-r4  ALREADY strict-unlearnt at step 0 (nothing detectable by the
                              strict test); tau at 5

Strict bands (pooled): ID [-1, 1] (inside iff |GenEx| <= 2), OOD [-2, 2] (iff |GenEx| <=
4). Specific band at step t (the same for every unit here): [-1 - t/2, 1 - t/2], i.e.
inside iff -2 - t <= GenEx <= 2 - t (the population's damage moves it down).
``calibration.unlearnt_count(4, 0.05)`` = 3: for X ~ Binomial(4, 0.95), P(X <= 2) = 1 -
0.95^4 - 4 * 0.95^3 * 0.05 = 1 - 0.81450625 - 0.171475 = 0.014 < 0.05 and P(X <= 3) = 1 -
0.81450625 = 0.185 >= 0.05, so 3 of 4 examples must be inside. Every expected number below
is worked out by hand from these tables.
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
STRICT_BANDS = {"id": (-1.0, 1.0), "ood": (-2.0, 2.0)}  # pooled statistic units


def specific_band(step: int) -> tuple[float, float]:
    return (-1.0 - step / 2, 1.0 - step / 2)


# Per forget set: GenEx of its 4 examples at every traced step; its full evaluations (step
# -> trigger); and the per-step columns at every step 0..6 (read at the full evaluations
# only): BLEU, chrF, trained / never-trained neighbours' Δ bits/token, retain bits/token.
RUNS = {
    "id-difficulty-easy-r1": {
        # strict (|g| <= 2): 0, 0, 1, 3, 3, 0, 1 -> first at 3, window ends at 4
        # specific (-2 - t <= g <= 2 - t): 0, 0, 0, 0, 0, 3 (-3, -4, -3 in [-7, -3]), 3 -> first at 5
        # means 8, 6, 3.75, 3, 3, 0.5, -3.25 -> tau first at 6
        "genex": [
            [8, 8, 8, 8],
            [6, 6, 6, 6],
            [2, 3, 3, 7],
            [2, 1, 2, 7],
            [1, 2, 1, 8],
            [-3, -4, -3, 12],
            [-5, -6, -4, 2],
        ],
        "evaluations": {0: "schedule", 2: "schedule", 3: "strict", 4: "schedule", 5: "specific", 6: "schedule,tau"},
        "bleu": [30, 29, 28, 27, 25, 23, 21],
        "chrf": [50, 49, 47, 46, 44, 42, 40],
        "trained": [0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
        "unseen": [0, 0.125, 0.25, 0.25, 0.5, 0.75, 1.0],
        "retain": [2.0, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0],
    },
    "id-difficulty-easy-r2": {
        # all four examples alike: 8, 7, 6, 5, 4, 3, 3: never inside either band, mean never <= 0
        "genex": [[g] * 4 for g in (8, 7, 6, 5, 4, 3, 3)],
        "evaluations": {0: "schedule", 2: "schedule", 4: "schedule", 6: "schedule"},
        "bleu": [30, 30, 29, 28, 26, 25, 24],
        "chrf": [50, 50, 49, 49, 48, 47, 46],
        "trained": [0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8],
        "unseen": [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
        "retain": [2.0, 2.05, 2.1, 2.15, 2.2, 2.4, 2.6],
    },
    "id-difficulty-hard-r1": {
        # strict 0, 0, 3, 3, 4, 4, 4 -> at 2, stays; specific never (every value above its step's
        # 2 - t); means 5, 4, 3, 2, 0, 0.25, 0 -> tau at 4
        "genex": [[5, 5, 5, 5], [4, 4, 4, 4], [2, 2, 1, 7], [1, 1, 1, 5], [1, 0, -1, 0], [1, 0, 0, 0], [1, -1, 0, 0]],
        "evaluations": {0: "schedule", 2: "schedule,strict", 4: "schedule,tau", 6: "schedule"},
        "bleu": [30, 30, 29, 29, 27, 27, 27],
        "chrf": [50, 50, 49, 49, 48, 48, 47],
        "trained": [0, 0.1, 0.3, 0.4, 0.5, 0.55, 0.6],
        "unseen": [0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2],
        "retain": [2.0, 2.025, 2.05, 2.075, 2.1, 2.15, 2.2],
    },
    "ood-memorisation-high-r1": {
        # diverged after step 2: strict (|g| <= 4) 0, 0, 0; specific 0, 0, 0; means 9, 8, 7
        "genex": [[9, 9, 9, 9], [8, 8, 8, 8], [7, 5, 9, 7]],
        "evaluations": {0: "schedule", 2: "schedule"},
        "bleu": [30, 27, 24],
        "chrf": [50, 48, 45],
        "trained": [0, 0.2, 0.4],
        "unseen": [0, 0.05, 0.1],
        "retain": [2.0, 2.2, 2.4],
    },
    "ood-memorisation-high-r2": {
        # strict (|g| <= 4) 0, 0, 3, 3, 3, 3, 4 -> at 2, stays (under the ID band, |g| <= 2,
        # step 2 would count 0); specific 0, 0, 0, 0, 0, 3 (-3, -3, -4 in [-7, -3]), 0 -> at 5;
        # means 9, 6, 5, 4, 2, 1, -1 -> tau at 6
        "genex": [
            [9, 9, 9, 9],
            [6, 6, 6, 6],
            [3, 3, 4, 10],
            [2, 2, 2, 10],
            [1, 0, -1, 8],
            [-3, -3, -4, 14],
            [0, -1, -2, -1],
        ],
        "evaluations": {0: "schedule", 2: "schedule,strict", 4: "schedule", 5: "specific", 6: "schedule,tau"},
        "bleu": [30, 28, 27, 25, 22, 20, 18],
        "chrf": [50, 48, 46, 43, 40, 38, 35],
        "trained": [0, 0.3, 0.6, 0.75, 0.9, 1.0, 1.2],
        "unseen": [0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4],
        "retain": [2.0, 2.1, 2.2, 2.35, 2.5, 2.75, 3.0],
    },
    "ood-memorisation-high-r3": {
        # strict 0, 0, 0, 0, 4 (4 / 2 = 2.0 is on the band's edge: inside), 4, 4 -> at 4, stays;
        # specific never; means 9, 8, 8, 6, 3, 3, 3: never <= 0
        "genex": [[9, 9, 9, 9], [8, 8, 8, 8], [8, 8, 8, 8], [6, 6, 6, 6], [4, 4, 4, 0], [3, 3, 3, 3], [3, 3, 3, 3]],
        "evaluations": {0: "schedule", 2: "schedule", 4: "schedule,strict", 6: "schedule"},
        "bleu": [30, 30, 29, 28, 27, 25, 24],
        "chrf": [50, 49, 48, 46, 45, 44, 43],
        "trained": [0, 0.05, 0.1, 0.3, 0.5, 0.6, 0.7],
        "unseen": [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
        "retain": [2.0, 2.05, 2.1, 2.2, 2.3, 2.35, 2.4],
    },
    "ood-memorisation-high-r4": {
        # strict (|g| <= 4) 3, 3, 3, 3, 3, 3, 2 -> already at 0, window ends at 5;
        # specific 2, 2, 2, 2, 2, 2, 2: never 3; means 3.75, 3, 2.25, 1.25, 0.5, -0.75, -1.75 -> tau at 5
        "genex": [
            [1, 2, 3, 9],
            [0, 1, 2, 9],
            [-1, 0, 1, 9],
            [-2, -1, 0, 8],
            [-3, -2, -1, 8],
            [-4, -3, -2, 6],
            [-5, -4, -3, 5],
        ],
        "evaluations": {0: "schedule,strict", 2: "schedule", 4: "schedule", 5: "tau", 6: "schedule"},
        "bleu": [30, 29, 28, 27, 26, 25, 24],
        "chrf": [50, 49, 48, 47, 46, 45, 44],
        "trained": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "unseen": [0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3],
        "retain": [2.0, 2.1, 2.2, 2.3, 2.4, 2.5, 2.6],
    },
}
# The same for every unit: the other metrics' per-step columns at steps 0..6.
COMMON = {
    "test_bpt": [3.0, 3.25, 3.5, 3.75, 4.0, 4.5, 5.0],
    "extraction_rate": [0.5, 0.5, 0.25, 0.25, 0.25, 0.0, 0.0],
    "test_exact_match": [0.1, 0.1, 0.1, 0.05, 0.05, 0.0, 0.0],
    "forget_bpt": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
    "exposure_rank_mean": [6.0, 5.0, 4.0, 3.0, 2.0, 1.5, 1.0],
    "exposure_skewnorm_mean": [9.0, 7.5, 6.0, 4.5, 3.0, 2.0, 1.5],
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


def run_tables(forget_set: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The full-evaluation, per-example and trace tables of one unit, as the unlearn rule
    writes them (with the unit's labels)."""
    run, unit = RUNS[forget_set], describe(forget_set)
    status = "ok" if len(run["genex"]) == SCHEDULE[-1] + 1 else DIVERGED
    strict_low, strict_high = STRICT_BANDS[unit["kind"]]
    trace_rows, step_rows, example_rows = [], [], []
    for step, genex in enumerate(run["genex"]):
        low, high = specific_band(step)
        for j, g in enumerate(genex):
            statistic = g / 2  # sqrt(TARGET_LEN + 1)
            trace_rows.append(
                {
                    **unit,
                    "step": step,
                    "example_id": f"{forget_set}-e{j}",
                    "target_len": TARGET_LEN,
                    "bits": 20.0 - g,
                    "genex": float(g),
                    "statistic": statistic,
                    "strict": strict_low <= statistic <= strict_high,
                    "specific": low <= statistic <= high,
                    "specific_low": low,
                    "specific_high": high,
                }
            )
    for step, trigger in run["evaluations"].items():
        genex = run["genex"][step]
        step_rows.append(
            {
                "step": step,
                "trigger": trigger,
                "loss": 1.0 + step,
                "genex_mean": float(np.mean(genex)),
                "relex_mean": float(np.mean(genex)) - 1.0,  # relex = genex - 1 per example
                **{column: values[step] for column, values in COMMON.items()},
                "bleu": float(run["bleu"][step]),
                "chrf": float(run["chrf"][step]),
                "neighbour_trained_delta_bpt": run["trained"][step],
                "neighbour_unseen_delta_bpt": run["unseen"][step],
                "retain_bpt": run["retain"][step],
                "bleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.4.0",
                "chrf_signature": "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.4.0",
                **unit,
                "status": status,
            }
        )
        for j, g in enumerate(genex):
            bits = 20.0 - g
            example_rows.append(
                {
                    "example_id": f"{forget_set}-e{j}",
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
    return pd.DataFrame(step_rows), pd.DataFrame(example_rows), pd.DataFrame(trace_rows)


def all_tables(forget_sets=tuple(RUNS)):
    tables = [run_tables(name) for name in forget_sets]
    return tuple(pd.concat([t[i] for t in tables], ignore_index=True) for i in range(3))


def unit_table(forget_sets=tuple(RUNS)):
    steps, examples, trace = all_tables(forget_sets)
    steps = units.annotate(steps, trace)
    return units.per_unit(steps, examples, trace, tau=TAU, alpha=ALPHA, fixed_step=FIXED_STEP)


def unit(table: pd.DataFrame, forget_set: str) -> pd.Series:
    rows = table[table["forget_set"] == forget_set]
    assert len(rows) == 1
    return rows.iloc[0]


# Test translations: four 8-word references; a unit's hypothesis of sentence j at a step
# has its last `damage` words replaced by "zz", damage = step + (u + j) % 2 (u: the unit's
# index in RUNS), so sentences, units and every step differ and step 0 is not perfect.
REFERENCES = [
    "the old cat sat on the warm mat today",
    "a small dog ran across the green park",
    "we drink hot tea every single cold morning",
    "she reads old books in the quiet library",
]


def hypothesis(u: int, step: int, j: int) -> str:
    words = REFERENCES[j].split()
    damage = min(len(words) - 1, step + (u + j) % 2)
    return " ".join(words[: len(words) - damage] + ["zz"] * damage)


def translations() -> pd.DataFrame:
    rows = []
    for u, forget_set in enumerate(RUNS):
        for step in RUNS[forget_set]["evaluations"]:  # translated at every full evaluation
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


# --- the rules on the trace: units.first_steps, annotate, step_shares -------------------


def test_unlearnt_count_of_four_examples_is_three():
    assert calibration.unlearnt_count(N_EXAMPLES, ALPHA) == 3  # see the module docstring


def test_first_steps_decides_every_rule_at_every_traced_step():
    _, _, trace = all_tables()
    decided = units.first_steps(trace, ALPHA, TAU)
    assert len(decided) == 6 * 7 + 3  # one row per unit and traced step
    easy = decided[decided["forget_set"] == "id-difficulty-easy-r1"].sort_values("step")
    assert easy["step"].tolist() == list(range(7))
    assert easy["n_strict"].tolist() == [0, 0, 1, 3, 3, 0, 1]
    assert easy["strict"].tolist() == [False, False, False, True, True, False, False]
    assert easy["n_specific"].tolist() == [0, 0, 0, 0, 0, 3, 3]
    assert easy["specific"].tolist() == [False] * 5 + [True, True]
    assert easy["genex"].tolist() == [8, 6, 3.75, 3, 3, 0.5, -3.25]
    assert easy["tau"].tolist() == [False] * 6 + [True]
    assert (easy["n"] == 4).all()
    # the fixture's triggers (hand-listed) are exactly the first step at which each rule holds
    for forget_set, run in RUNS.items():
        rows = decided[decided["forget_set"] == forget_set].sort_values("step")
        for rule in units.RULES:
            first = rows.loc[rows[rule], "step"].head(1).tolist()
            triggered = [s for s, trigger in run["evaluations"].items() if rule in trigger.split(",")]
            assert triggered == first, (forget_set, rule)


def test_annotate_counts_each_test_at_the_full_evaluations():
    steps, _, trace = all_tables()
    annotated = units.annotate(steps, trace)
    assert len(annotated) == len(steps) == 6 + 4 + 4 + 2 + 5 + 4 + 5  # one row per full evaluation, none added

    def counts(forget_set, test):
        rows = annotated[annotated["forget_set"] == forget_set].sort_values("step")
        return rows[f"n_{test}"].tolist(), rows[f"{test}_share"].tolist()

    # id-difficulty-easy-r1 at 0, 2, 3, 4, 5, 6
    assert counts("id-difficulty-easy-r1", "strict") == ([0, 1, 3, 3, 0, 1], [0, 0.25, 0.75, 0.75, 0, 0.25])
    assert counts("id-difficulty-easy-r1", "specific") == ([0, 0, 0, 0, 3, 3], [0, 0, 0, 0, 0.75, 0.75])
    assert counts("id-difficulty-easy-r2", "strict") == ([0, 0, 0, 0], [0.0] * 4)
    assert counts("id-difficulty-hard-r1", "strict") == ([0, 3, 4, 4], [0, 0.75, 1, 1])
    assert counts("ood-memorisation-high-r1", "strict") == ([0, 0], [0.0, 0.0])
    # OOD band |g| <= 4: GenEx 3, 3, 4, 10 at step 2 gives 3 (the ID band would give 0); at 0, 2, 4, 5, 6
    assert counts("ood-memorisation-high-r2", "strict") == ([0, 3, 3, 3, 4], [0, 0.75, 0.75, 0.75, 1])
    assert counts("ood-memorisation-high-r2", "specific") == ([0, 0, 0, 3, 0], [0, 0, 0, 0.75, 0])
    assert counts("ood-memorisation-high-r3", "strict") == ([0, 0, 4, 4], [0, 0, 1, 1])  # 4 / 2 = 2.0: inside
    assert counts("ood-memorisation-high-r4", "strict") == ([3, 3, 3, 3, 2], [0.75, 0.75, 0.75, 0.75, 0.5])
    assert counts("ood-memorisation-high-r4", "specific") == ([2] * 5, [0.5] * 5)
    assert (annotated["n_examples"] == 4).all()


def test_step_shares_at_every_step():
    _, _, trace = all_tables()
    shares = units.step_shares(trace)
    assert len(shares) == 6 * 7 + 3
    easy = shares[shares["forget_set"] == "id-difficulty-easy-r1"].sort_values("step")
    assert easy["strict_share"].tolist() == [0, 0, 0.25, 0.75, 0.75, 0, 0.25]
    assert easy["specific_share"].tolist() == [0, 0, 0, 0, 0, 0.75, 0.75]
    assert easy["genex_mean"].tolist() == [8, 6, 3.75, 3, 3, 0.5, -3.25]
    labels = easy[["kind", "grouping", "bucket", "half"]].drop_duplicates()
    assert labels.values.tolist() == [["id", "difficulty", "easy", "A"]]


# --- units.per_unit -------------------------------------------------------------------


def test_a_unit_unlearnt_between_scheduled_evaluations(table):
    u = unit(table, "id-difficulty-easy-r1")
    assert (u["kind"], u["grouping"], u["bucket"], u["replicate"], u["half"]) == ("id", "difficulty", "easy", 1, "A")
    assert u["status"] == "ok" and u["n_examples"] == 4
    assert u["share_step0"] == 0.0 and u["specific_share_step0"] == 0.0
    # exact first steps from the trace: strict counts 0, 0, 1, 3, 3, 0, 1 -> 3 (not the scheduled 4),
    # the run of strict steps ends at 4, not at the end
    assert (u["steps_strict"], u["window_end"], u["stays_unlearnt"]) == (3.0, 4.0, False)
    assert u["steps_specific"] == 5.0 and u["steps_tau"] == 6.0
    # per example GenEx over steps: (8,6,2,2,1,-3) -> 5, (8,6,3,1,2,-4) -> 5, (8,6,3,2,1,-3) -> 5,
    # (8,6,7,7,8,12,2) never
    assert u["reached"] == 0.75
    assert (u["unlearn_step"], u["unlearn_step_specific"], u["unlearn_step_tau"]) == (3.0, 5.0, 6.0)
    assert (u["fixed_step"], u["last_step"]) == (4.0, 6.0)
    for suffix in units.RULES.values():
        assert not u[f"censored{suffix}"] and u[f"detectable{suffix}"], suffix
    # the costs: read at the full evaluation each rule triggered (3: "strict", 5: "specific")
    assert u["bleu_drop"] == 30 - 27 and u["chrf_drop"] == 50 - 46  # at step 3
    assert u["bleu_drop_specific"] == 30 - 23 and u["chrf_drop_specific"] == 50 - 42  # at step 5
    assert u["bleu_drop_tau"] == 30 - 21 and u["chrf_drop_tau"] == 50 - 40  # at step 6
    assert u["bleu_drop_fixed"] == 30 - 25  # at step 4
    assert u["bleu_drop_final"] == 30 - 21
    assert u["neighbour_gap"] == 0.75 - 0.25  # at step 3
    assert u["neighbour_gap_specific"] == 1.5 - 0.75  # at step 5
    assert u["neighbour_gap_tau"] == 2.0 - 1.0  # at step 6
    assert (u["neighbour_trained_delta"], u["neighbour_unseen_delta"]) == (0.75, 0.25)
    assert u["retain_bpt_increase"] == 2.75 - 2.0
    # every metric at step 0, at the strict unlearning step (3) and at the last step (6)
    expected = {
        "genex": (8, 3, -3.25),
        "relex": (7, 2, -4.25),
        "exposure_rank": (6, 3, 1),
        "exposure_skewnorm": (9, 4.5, 1.5),
        "bpt": (1, 2.5, 4),
        "test_bpt": (3, 3.75, 5),
        "retain_bpt": (2, 2.75, 4),
        "neighbour_trained_delta_bpt": (0, 0.75, 2),
        "neighbour_unseen_delta_bpt": (0, 0.25, 1),
        "bleu": (30, 27, 21),
        "chrf": (50, 46, 40),
        "extracted": (0.5, 0.25, 0.0),
        "test_exact_match": (0.1, 0.05, 0.0),
    }
    for name, (step0, at_unlearning, final) in expected.items():
        assert u[f"{name}_step0"] == step0, name
        assert u[f"{name}_at_unlearning"] == at_unlearning, name
        assert u[f"{name}_final"] == final, name
    for metric in metrics.REGISTRY.values():  # a new metric gets its three columns too
        assert {f"{metric.name}_{r}" for r in ("step0", "at_unlearning", "final")} <= set(table.columns)


def test_the_exact_step_comes_from_the_trace_and_the_costs_from_the_full_evaluation_there():
    """Without the full evaluation at step 3 the step is still 3 (the trace has it), but
    nothing was measured there: the costs read at it are missing, not taken from step 4."""
    steps, examples, trace = all_tables(["id-difficulty-easy-r1"])
    steps = steps[steps["step"] != 3]
    u = units.per_unit(steps, examples, trace, tau=TAU, alpha=ALPHA, fixed_step=FIXED_STEP).iloc[0]
    assert u["steps_strict"] == 3.0 and u["unlearn_step"] == 3.0
    assert np.isnan(u["bleu_drop"]) and np.isnan(u["neighbour_gap"]) and np.isnan(u["bleu_at_unlearning"])
    assert u["bleu_drop_specific"] == 7 and u["bleu_drop_fixed"] == 5  # steps 5 and 4: still there


def test_other_units_unlearnt_by_the_rules(table):
    hard = unit(table, "id-difficulty-hard-r1")  # strict 0, 0, 3, 3, 4, 4, 4; means 5, 4, 3, 2, 0, 0.25, 0
    assert (hard["steps_strict"], hard["window_end"], hard["stays_unlearnt"]) == (2.0, 6.0, True)
    assert hard["steps_tau"] == 4.0 and hard["bleu_drop"] == 1 and hard["bleu_drop_tau"] == 3
    # strict but never specific: censored there, read at the last step
    assert np.isnan(hard["steps_specific"]) and hard["censored_specific"] and not hard["censored"]
    assert hard["unlearn_step_specific"] == 6.0 and hard["bleu_drop_specific"] == 3
    assert hard["neighbour_gap"] == pytest.approx(0.3 - 0.05) and hard["neighbour_gap_tau"] == pytest.approx(0.4)
    # examples (5,4,2,1,1,1,1) never <= 0, (5,4,2,1,0) -> 4, (5,4,1,1,-1) -> 4, (5,4,7,5,0) -> 4
    assert hard["reached"] == 0.75
    r2 = unit(table, "ood-memorisation-high-r2")  # strict 0, 0, 3, 3, 3, 3, 4 under the OOD band
    assert (r2["steps_strict"], r2["window_end"], r2["stays_unlearnt"]) == (2.0, 6.0, True)
    assert (r2["steps_specific"], r2["steps_tau"]) == (5.0, 6.0)
    assert r2["bleu_drop"] == 3 and r2["bleu_drop_fixed"] == 8
    assert r2["bleu_drop_specific"] == 10 and r2["bleu_drop_tau"] == 12
    assert r2["neighbour_gap_specific"] == pytest.approx(1.0 - 0.35)
    # examples (9,6,3,2,1,-3) -> 5, (9,6,3,2,0) -> 4, (9,6,4,2,-1) -> 4, (9,6,10,10,8,14,-1) -> 6
    assert r2["reached"] == 1.0
    r3 = unit(table, "ood-memorisation-high-r3")  # strict 0, 0, 0, 0, 4, 4, 4; means never <= 0
    assert (r3["steps_strict"], r3["window_end"], r3["stays_unlearnt"]) == (4.0, 6.0, True)
    assert np.isnan(r3["steps_tau"]) and r3["censored_tau"] and not r3["censored"]
    assert (r3["unlearn_step"], r3["unlearn_step_tau"]) == (4.0, 6.0)
    assert r3["bleu_drop"] == 3 and r3["bleu_drop_tau"] == 6
    assert r3["reached"] == 0.25  # (9,8,8,6,4,3,3) three times never <= 0; (9,8,8,6,0) at 4
    assert r3["neighbour_gap"] == pytest.approx(0.5 - 0.2)


def test_a_set_already_unlearnt_at_step_0_has_nothing_detectable_by_that_rule(table):
    r4 = unit(table, "ood-memorisation-high-r4")
    # step 0: strict 3 of 4 (1, 2, 3 inside |g| <= 4; 9 not) -> already unlearnt; specific 2 (1, 2 in
    # [-2, 2]) < 3; mean 3.75 > 0
    assert (r4["share_step0"], r4["specific_share_step0"]) == (0.75, 0.5)
    assert not r4["detectable"] and r4["detectable_specific"] and r4["detectable_tau"]
    assert (r4["steps_strict"], r4["window_end"], r4["stays_unlearnt"]) == (0.0, 5.0, False)  # 2 of 4 at step 6
    assert r4["unlearn_step"] == 0.0 and r4["bleu_drop"] == 0 and r4["neighbour_gap"] == 0
    assert r4["steps_tau"] == 5.0 and r4["bleu_drop_tau"] == 30 - 25  # means 3.75, ..., 0.5, -0.75
    assert np.isnan(r4["steps_specific"]) and r4["censored_specific"] and r4["bleu_drop_specific"] == 6
    assert r4["reached"] == 0.75  # examples at 1, 2, 3; (9,9,9,8,8,6,5) never
    others = table[table["forget_set"] != "ood-memorisation-high-r4"]
    assert others["detectable"].all() and (others["share_step0"] == 0).all()


def test_a_never_unlearnt_unit_is_censored_and_read_at_its_last_step(table):
    u = unit(table, "id-difficulty-easy-r2")
    assert np.isnan(u["steps_strict"]) and np.isnan(u["window_end"]) and not u["stays_unlearnt"]
    assert np.isnan(u["steps_specific"]) and np.isnan(u["steps_tau"]) and u["reached"] == 0.0
    assert u["censored"] and u["censored_specific"] and u["censored_tau"]
    assert u["unlearn_step"] == u["unlearn_step_specific"] == u["unlearn_step_tau"] == 6.0
    assert u["bleu_drop"] == u["bleu_drop_specific"] == u["bleu_drop_tau"] == 30 - 24 and u["chrf_drop"] == 50 - 46
    assert u["bleu_drop_fixed"] == 30 - 26
    assert u["neighbour_gap"] == pytest.approx(0.8 - 0.3)
    assert u["retain_bpt_increase"] == pytest.approx(2.6 - 2.0)
    assert (u["genex_at_unlearning"], u["bleu_at_unlearning"]) == (3.0, 24.0)


# --- a diverged unit: missing where it never got, never fatal --------------------------


def test_a_diverged_unit_is_missing_at_the_fixed_step_in_per_unit(table):
    u = unit(table, "ood-memorisation-high-r1")
    assert u["status"] == DIVERGED
    assert u["last_step"] == 2.0 and u["unlearn_step"] == 2.0 and u["censored"]  # never unlearnt, read at 2
    assert u["unlearn_step_specific"] == u["unlearn_step_tau"] == 2.0 and u["censored_tau"]
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
    for quantity in ("bleu_drop", "chrf_drop", "bleu_drop_specific", "bleu_drop_tau", "bleu_drop_final"):
        assert np.isfinite(boot.sentence_values[quantity]).all(), quantity  # read at step 2: present
    members = (table["kind"] == "ood").to_numpy()
    assert boot.usable("bleu_drop_fixed", members).sum() == 3 and boot.usable("bleu_drop", members).sum() == 4


def test_groups_count_the_diverged_unit_as_missing_and_leave_out_what_a_rule_cannot_detect(boot):
    table = groups.groups(boot)
    ood = table[(table["kind"] == "ood") & (table["bucket"] == "all")].iloc[0]
    bucket = table[(table["grouping"] == "memorisation") & (table["bucket"] == "high")].iloc[0]
    for row in (ood, bucket):  # r1 (diverged), r2, r3, r4 (strict at step 0)
        assert row["n_units"] == 4
        assert (row["detectable"], row["detectable_specific"], row["detectable_tau"]) == (3, 4, 4)
        assert row["bleu_drop_fixed_missing"] == 1 and row["bleu_drop_missing"] == 0
        assert row["bleu_drop_fixed"] == (8 + 3 + 4) / 3  # r2, r3, r4; r1 never reached step 4
        assert np.isfinite(row["bleu_drop_fixed_low"]) and np.isfinite(row["bleu_drop_fixed_high"])
        assert row["bleu_drop"] == (6 + 3 + 3) / 3  # strict: r1, r2, r3; r4 (nothing to detect) left out
        assert row["unlearn_step"] == pytest.approx((2 + 2 + 4) / 3)
        assert row["neighbour_gap"] == pytest.approx((0.3 + 0.4 + 0.3) / 3)
        assert row["unlearn_step_specific"] == (2 + 5 + 6 + 6) / 4 and row["bleu_drop_specific"] == (6 + 10 + 6 + 6) / 4
        assert row["unlearn_step_tau"] == (2 + 6 + 6 + 5) / 4 and row["bleu_drop_tau"] == (6 + 12 + 6 + 5) / 4
        # strict: r1; specific: r1, r3, r4; tau: r1, r3
        assert (row["censored"], row["censored_specific"], row["censored_tau"]) == (1, 3, 2)
    id_ = table[(table["kind"] == "id") & (table["bucket"] == "all")].iloc[0]
    assert id_["bleu_drop_fixed_missing"] == 0 and id_["bleu_drop_fixed"] == (5 + 4 + 3) / 3
    assert id_["bleu_drop"] == (3 + 6 + 1) / 3 and id_["bleu_drop_tau"] == (9 + 6 + 3) / 3
    assert id_["bleu_drop_specific"] == pytest.approx((7 + 6 + 3) / 3)
    assert id_["unlearn_step"] == pytest.approx((3 + 6 + 2) / 3)
    assert id_["unlearn_step_specific"] == pytest.approx((5 + 6 + 6) / 3)
    assert id_["unlearn_step_tau"] == pytest.approx((6 + 6 + 4) / 3)
    assert id_["neighbour_gap"] == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    assert (id_["censored"], id_["censored_specific"], id_["censored_tau"]) == (1, 2, 1)
    assert id_["detectable"] == 3


def test_claims_report_the_diverged_unit_as_missing(boot):
    # ID against OOD reads one grouping both kinds have: here, all seven sets relabelled as one
    one_grouping = dataclasses.replace(boot, units=boot.units.assign(grouping="difficulty"))
    table = claims.table(one_grouping, min_base_bleu=5.0, base_bleu=30.0)
    c2 = table[table["claim"] == "C2"].iloc[0]
    # ID: 5, 4, 3 -> 4; OOD: r2 8, r3 3, r4 4 -> 5 (r1 diverged before step 4)
    assert c2["estimate"] == pytest.approx(4 - 5)
    assert (c2["n_first"], c2["n_second"], c2["missing"], c2["censored"], c2["left_out"]) == (3, 3, 1, 0, 0)
    assert np.isfinite(c2["low"]) and np.isfinite(c2["high"])
    assert c2["note"] == "1 run(s) never reached the step read (diverged): left out"
    c1b = table[(table["claim"] == "C1b") & (table["rule"] == "strict")].iloc[0]
    assert c1b["missing"] == 0 and c1b["estimate"] == pytest.approx((6 + 3 + 3) / 3 - (3 + 6 + 1) / 3)


def test_claims_leave_out_the_sets_a_rule_had_nothing_to_detect_in(boot):
    """r4 was strict-unlearnt at step 0: C1a's strict row leaves it out and counts it; the
    specific and tau rows (it had something to unlearn there) keep it."""
    one_grouping = dataclasses.replace(boot, units=boot.units.assign(grouping="difficulty"))
    c1a = claims.table(one_grouping, min_base_bleu=5.0, base_bleu=30.0)
    c1a = c1a[c1a["claim"] == "C1a"].set_index("rule")
    assert list(c1a.index) == ["strict", "specific", "tau"]
    strict = c1a.loc["strict"]
    # OOD r1 2 (censored), r2 2, r3 4 -> 8/3; ID 3, 6 (censored), 2 -> 11/3
    assert strict["estimate"] == pytest.approx(8 / 3 - 11 / 3)
    assert (strict["n_first"], strict["n_second"], strict["left_out"], strict["censored"]) == (3, 3, 1, 2)
    assert strict["note"] == (
        "2 set(s) never unlearnt: read at the last step; "
        "1 set(s) already unlearnt at step 0 by this rule (nothing detectable): left out"
    )
    specific, tau = c1a.loc["specific"], c1a.loc["tau"]
    assert specific["estimate"] == pytest.approx((2 + 5 + 6 + 6) / 4 - (5 + 6 + 6) / 3)
    assert tau["estimate"] == pytest.approx((2 + 6 + 6 + 5) / 4 - (6 + 6 + 4) / 3)
    for row in (specific, tau):
        assert (row["n_first"], row["n_second"], row["left_out"]) == (4, 3, 0)
        assert "already unlearnt" not in row["note"]
    assert (specific["censored"], tau["censored"]) == (5, 3)  # r1 r3 r4 easy-r2 hard-r1; r1 r3 easy-r2


# --- a bucket with one replicate ------------------------------------------------------


def test_a_bucket_of_one_unit_has_a_mean_and_no_interval(boot):
    table = groups.groups(boot)
    hard = table[(table["bucket"] == "hard")]
    assert len(hard) == 1
    hard = hard.iloc[0]
    assert (hard["method"], hard["kind"], hard["grouping"], hard["n_units"]) == (METHOD, "id", "difficulty", 1)
    assert hard["unlearn_step"] == 2 and hard["bleu_drop"] == 1 and hard["bleu_drop_fixed"] == 3
    for quantity in groups.GROUP_QUANTITIES:
        assert np.isnan(hard[f"{quantity}_low"]) and np.isnan(hard[f"{quantity}_high"]), quantity
        assert hard[f"{quantity}_missing"] == 0
    easy = table[(table["bucket"] == "easy")].iloc[0]
    assert easy["n_units"] == 2 and easy["bleu_drop"] == (3 + 6) / 2
    assert np.isfinite(easy["bleu_drop_low"]) and easy["bleu_drop_low"] <= easy["bleu_drop_high"]


def test_claims_on_a_bucket_of_one_unit_are_inconclusive(boot):
    table = claims.table(boot, min_base_bleu=5.0, base_bleu=30.0)
    c3b = table[(table["claim"] == "C3b") & (table["kind"] == "id")].set_index("rule")
    strict, specific, tau = c3b.loc["strict"], c3b.loc["specific"], c3b.loc["tau"]
    assert strict["estimate"] == 1 - (3 + 6) / 2  # hard - easy
    assert specific["estimate"] == 3 - (7 + 6) / 2
    assert tau["estimate"] == 3 - (9 + 6) / 2
    for row in (strict, specific, tau):
        assert row["verdict"] == row["verdict_holm"] == "inconclusive"
        assert np.isnan(row["low"]) and np.isnan(row["high"]) and np.isnan(row["p_value"])
        assert (row["n_first"], row["n_second"], row["left_out"]) == (1, 2, 0)
    # easy-r2 never unlearnt by any rule; hard-r1 never by the specific test
    assert (strict["censored"], specific["censored"], tau["censored"]) == (1, 2, 1)
    assert strict["note"] == "fewer than 2 forget sets in a group; 1 set(s) never unlearnt: read at the last step"
    assert specific["note"] == "fewer than 2 forget sets in a group; 2 set(s) never unlearnt: read at the last step"


# --- Holm over the rows of a method and batch size --------------------------------------


def holm_units(batch: str, neighbour_gap: float) -> pd.DataFrame:
    """Four ID units of the memorisation grouping, two high and two low, of one batch size."""
    rows = []
    for bucket, drops in (("high", ([2.9, 3.1], [2, 2], [1, 1])), ("low", ([1, 1], [1, 1], [2, 2]))):
        for i in range(2):
            row = {
                "method": METHOD,
                "batch": batch,
                "forget_set": f"id-memorisation-{bucket}-r{i + 1}",
                "seed": 1,
                "half": "A",
                "kind": "id",
                "grouping": "memorisation",
                "bucket": bucket,
            }
            for suffix, values in zip(units.RULES.values(), drops, strict=True):
                row.update(
                    {
                        f"unlearn_step{suffix}": 2.0,
                        f"bleu_drop{suffix}": float(values[i]),
                        f"neighbour_gap{suffix}": neighbour_gap,
                        f"censored{suffix}": False,
                        f"detectable{suffix}": True,
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows)


def test_holm_adjusts_the_verdicts_within_each_method_and_batch_by_hand():
    """C3a (BLEU drop, high - low memorisation), per rule: strict: high 2.9, 3.1 against low 1, 1:
    estimate 2, standard error sqrt(0.02 / 2) = 0.1, Welch df = 0.01^2 / (0.01^2 / 1) = 1,
    t = 20; with 1 df t is Cauchy: p = 1 - (2/pi) arctan 20 = (2/pi) arctan(1/20) = 0.0318,
    and t_{1, 0.975} = 12.71 < 20: supported. specific: 2, 2 against 1, 1: no spread, p = 0,
    supported; tau: 1, 1 against 2, 2: p = 0, contradicted. C3b: no difficulty sets, p NaN
    (not in the family). C4: neighbour gaps all 0: estimate 0, no spread, p = 1.

    Batch "all" (neighbour gaps 0): six p-values 0, 0, 0.0318, 1, 1, 1; Holm at 0.05: 0 <=
    0.05/6, 0 <= 0.05/5, 0.0318 > 0.05/4 = 0.0125: stop. C3a strict: supported ->
    inconclusive. Batch "8" (neighbour gaps NaN: C4 has no values, p NaN): three p-values 0,
    0, 0.0318: 0.0318 <= 0.05/1: every verdict kept. (One family over both batches would
    have nine p-values and reject neither 0.0318: 0.0318 > 0.05/5.)"""
    frame = pd.concat([holm_units("all", 0.0), holm_units("8", np.nan)], ignore_index=True)
    boot = uncertainty.Uncertainty(frame, {}, level=0.95, max_step=6.0, by_model=False)
    table = claims.table(boot, min_base_bleu=5.0, base_bleu=30.0)
    assert len(table) == 2 * 9  # per batch: C3a, C3b, C4 for each of the three rules
    p = 2 / np.pi * np.arctan(1 / 20)
    assert p == pytest.approx(0.03180, abs=1e-5)

    def rows(batch, claim):
        return table[(table["batch"] == batch) & (table["claim"] == claim)].set_index("rule")

    for batch in ("all", "8"):
        c3a = rows(batch, "C3a")
        assert c3a["estimate"].tolist() == pytest.approx([2.0, 1.0, -1.0])
        assert c3a.loc["strict", "p_value"] == pytest.approx(p, rel=1e-6)
        assert c3a["p_value"].tolist()[1:] == [0.0, 0.0]
        assert c3a["verdict"].tolist() == ["supported", "supported", "contradicted"]
        assert rows(batch, "C3b")["p_value"].isna().all()
    assert rows("all", "C4")["p_value"].tolist() == [1.0, 1.0, 1.0]
    assert rows("8", "C4")["p_value"].isna().all()
    assert rows("all", "C3a")["verdict_holm"].tolist() == ["inconclusive", "supported", "contradicted"]
    assert rows("8", "C3a")["verdict_holm"].tolist() == ["supported", "supported", "contradicted"]
    assert (table.loc[table["claim"] != "C3a", "verdict_holm"] == "inconclusive").all()
    weak = claims.table(boot, min_base_bleu=5.0, base_bleu=1.0)  # no verdicts: Holm keeps "not assessed"
    assert (weak["verdict"] == "not assessed").all() and (weak["verdict_holm"] == "not assessed").all()


# --- uncertainty: test-sentence resamples --------------------------------------------------


def test_resampled_bleu_and_chrf_drops_are_sacrebleu_on_the_resampled_sentences(table, boot):
    weights = uncertainty.sentence_weights(np.random.default_rng(BOOT_SEED), len(REFERENCES), N_RESAMPLES)
    assert (weights.sum(axis=1) == len(REFERENCES)).all()
    assert (weights[0] != 1).any() and len({tuple(w) for w in weights}) > 1  # resampling does something

    def score(scorer, u, step, picked):
        hyps = [hypothesis(u, step, j) for j in picked]
        return scorer().corpus_score(hyps, [[REFERENCES[j] for j in picked]]).score

    cases = [  # (forget set, quantity, scorer, step it is read at)
        ("id-difficulty-easy-r1", "bleu_drop", sacrebleu.BLEU, 3),  # strict: between scheduled steps
        ("id-difficulty-easy-r1", "chrf_drop", sacrebleu.CHRF, 3),
        ("id-difficulty-easy-r1", "bleu_drop_specific", sacrebleu.BLEU, 5),
        ("id-difficulty-easy-r1", "bleu_drop_tau", sacrebleu.BLEU, 6),
        ("id-difficulty-easy-r2", "bleu_drop", sacrebleu.BLEU, 6),  # censored: the last step
        ("ood-memorisation-high-r2", "bleu_drop_fixed", sacrebleu.BLEU, 4),
        ("ood-memorisation-high-r4", "bleu_drop", sacrebleu.BLEU, 0),  # unlearnt at step 0: no drop
    ]
    for forget_set, quantity, scorer, step in cases:
        i = int(table.index[table["forget_set"] == forget_set][0])
        u = list(RUNS).index(forget_set)
        for k in range(N_RESAMPLES):
            picked = np.repeat(np.arange(len(REFERENCES)), weights[k].astype(int))  # sentence j drawn w_kj times
            expected = score(scorer, u, 0, picked) - score(scorer, u, step, picked)
            assert boot.sentence_values[quantity][k, i] == pytest.approx(expected, abs=1e-9), (forget_set, quantity, k)
    r4 = int(table.index[table["forget_set"] == "ood-memorisation-high-r4"][0])
    assert (boot.sentence_values["bleu_drop"][:, r4] == 0).all()
    # resample 0 spelled out: the sentences drawn and the BLEU drop of the first unit at step 3
    picked = np.repeat(np.arange(4), weights[0].astype(int))
    before = sacrebleu.corpus_bleu([hypothesis(0, 0, j) for j in picked], [[REFERENCES[j] for j in picked]]).score
    after = sacrebleu.corpus_bleu([hypothesis(0, 3, j) for j in picked], [[REFERENCES[j] for j in picked]]).score
    assert boot.sentence_values["bleu_drop"][0, 0] == pytest.approx(before - after, abs=1e-9) and before > after


# --- groups.metric_table, groups.agreement ---------------------------------------------


def test_metric_table_means_per_method_kind_and_metric(boot):
    table = groups.metric_table(boot)
    assert len(table) == 2 * len(metrics.REGISTRY)

    def row(kind, metric):
        return table[(table["kind"] == kind) & (table["metric"] == metric)].iloc[0]

    assert row("id", "bleu")["n_units"] == 3 and row("ood", "bleu")["n_units"] == 4
    # ID units unlearn (strict) at steps 3, 6 (censored), 2; last steps 6, 6, 6
    assert tuple(row("id", "bleu")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        (30, (27 + 24 + 29) / 3, (21 + 24 + 27) / 3)
    )
    assert tuple(row("id", "genex")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        ((8 + 8 + 5) / 3, (3 + 3 + 3) / 3, (-3.25 + 3 + 0) / 3)
    )
    assert row("id", "retain_bpt")["at_unlearning"] == pytest.approx((2.75 + 2.6 + 2.05) / 3)
    # OOD units unlearn at steps 2 (diverged: its last), 2, 4, 0; last steps 2, 6, 6, 6
    assert tuple(row("ood", "bleu")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        (30, (24 + 27 + 27 + 30) / 4, (24 + 18 + 24 + 24) / 4)
    )
    assert tuple(row("ood", "genex")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        ((9 + 9 + 9 + 3.75) / 4, (7 + 5 + 3 + 3.75) / 4, (7 - 1 + 3 - 1.75) / 4)
    )
    assert tuple(row("ood", "test_bpt")[["step0", "at_unlearning", "final"]]) == pytest.approx(
        (3.0, (3.5 + 3.5 + 4.0 + 3.0) / 4, (3.5 + 5.0 + 5.0 + 5.0) / 4)
    )
    same = row("id", "bleu")  # every unit's step-0 BLEU is 30: no spread, a point interval
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
        ("C3a", "strict", "bleu_drop", "censored"),
        ("C3a", "specific", "bleu_drop_specific", "censored_specific"),
        ("C3a", "tau", "bleu_drop_tau", "censored_tau"),
        ("C3b", "strict", "bleu_drop", "censored"),
        ("C3b", "specific", "bleu_drop_specific", "censored_specific"),
        ("C3b", "tau", "bleu_drop_tau", "censored_tau"),
        ("C4", "strict", "neighbour_gap", "censored"),
        ("C4", "specific", "neighbour_gap_specific", "censored_specific"),
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
    # a kind's pooled claim (C4) reads one grouping: repetition before difficulty before memorisation
    assert claims.one_grouping({"memorisation", "difficulty"}) == "difficulty"
    assert claims.one_grouping({"memorisation", "repetition", "difficulty"}) == "repetition"
    assert claims.one_grouping(set()) is None
    c4 = [c for c in claims.contrasts(["id"], groupings={"id": {"memorisation", "difficulty"}}) if c.claim == "C4"]
    assert [c.first for c in c4] == [({"kind": "id", "grouping": "difficulty"},)] * 3


def test_quantities_read_each_drop_at_its_step_and_rule():
    read = {name: (q.metric, q.step, q.rule, q.detectable) for name, q in units.QUANTITIES.items()}
    assert read == {
        "unlearn_step": (None, None, "strict", "detectable"),
        "unlearn_step_specific": (None, None, "specific", "detectable_specific"),
        "unlearn_step_tau": (None, None, "tau", "detectable_tau"),
        "bleu_drop": ("bleu", "unlearn_step", "strict", "detectable"),
        "chrf_drop": ("chrf", "unlearn_step", "strict", "detectable"),
        "bleu_drop_specific": ("bleu", "unlearn_step_specific", "specific", "detectable_specific"),
        "chrf_drop_specific": ("chrf", "unlearn_step_specific", "specific", "detectable_specific"),
        "bleu_drop_tau": ("bleu", "unlearn_step_tau", "tau", "detectable_tau"),
        "chrf_drop_tau": ("chrf", "unlearn_step_tau", "tau", "detectable_tau"),
        "bleu_drop_fixed": ("bleu", "fixed_step", None, None),
        "bleu_drop_final": ("bleu", "last_step", None, None),
        "neighbour_gap": (None, None, "strict", "detectable"),
        "neighbour_gap_specific": (None, None, "specific", "detectable_specific"),
        "neighbour_gap_tau": (None, None, "tau", "detectable_tau"),
    }
    assert units.QUANTITIES["bleu_drop"].label == "BLEU drop at unlearning (strict test)"
    assert units.RULES == {"strict": "", "specific": "_specific", "tau": "_tau"}


# --- units.population_damage ------------------------------------------------------------

# Four never-trained ID members (target_len 3: statistic = bits difference / 2); the other
# half's LME bits: bits_B 20 (for a model of half A), bits_A 22 (for a model of half B).
POPULATION_TABLE = pd.DataFrame(
    {
        "example_id": ["c0", "p0", "p1", "p2", "p3"],
        "kind": ["id", "id_population", "id_population", "id_population", "id_population"],
        "target_len": 3,
        "bits_A": [30.0, 22.0, 22.0, 22.0, 22.0],
        "bits_B": [30.0, 20.0, 20.0, 20.0, 20.0],
    }
)


def population_unit(forget_set: str) -> dict:
    return {"method": METHOD, "batch": "all", "forget_set": forget_set, "seed": 1}


def test_population_damage_by_hand():
    """Unit a (half A: statistic (bits_B - bits_t) / 2) at step 0, bits/token 5 (bits 20):
    statistics 0, 0, 0, 0: all inside the strict band [-1, 1] and inside the specific band
    [-1, 1]: share 1, false-positive rate 0. At step 2, bits/token 5.5, 6, 6.5, 7 (bits 22,
    24, 26, 28): statistics -1, -2, -3, -4: strict share 1/4 (-1 on the edge); specific band
    [-3.5, -1.5]: p0 (-1) and p3 (-4) outside: 2/4. Unit b (half B: bits_A 22) at step 2:
    statistics 0, -1, -2, -3: strict share 2/4; specific band [-2.5, 0.5]: p3 outside: 1/4.
    With holdout 1 every member is held out."""
    a, b = population_unit("id-difficulty-easy-r1"), population_unit("id-difficulty-easy-r2")
    members = ["p0", "p1", "p2", "p3"]
    evaluation = [
        (a, 0, [5.0, 5.0, 5.0, 5.0]),
        (a, 2, [5.5, 6.0, 6.5, 7.0]),
        (b, 2, [5.5, 6.0, 6.5, 7.0]),
    ]
    population = pd.concat(
        [
            pd.DataFrame({"sample": "evaluation", "example_id": members, "step": s, "bpt": bpt, **u})
            for u, s, bpt in evaluation
        ]
        # the damage sample (bits at every step) is not what this measures: ignored
        + [pd.DataFrame({"sample": "damage", "example_id": ["p0"], "step": 1, "bits": [99.0], **a})],
        ignore_index=True,
    )
    bands = [(a, "A", 0, -1.0, 1.0), (a, "A", 2, -3.5, -1.5), (b, "B", 2, -2.5, 0.5)]
    trace = pd.DataFrame(
        [
            {**u, "half": half, "step": s, "example_id": f"e{j}", "specific_low": low, "specific_high": high}
            for u, half, s, low, high in bands
            for j in range(2)
        ]
    )
    calibrations = pd.DataFrame([{"kind": "id", "mode": "pooled", "band_low": -1.0, "band_high": 1.0}])
    damage = units.population_damage(population, POPULATION_TABLE, calibrations, trace, holdout=1.0, seed=0)
    damage = damage.set_index(["forget_set", "step"])
    assert list(damage.index) == [
        ("id-difficulty-easy-r1", 0),
        ("id-difficulty-easy-r1", 2),
        ("id-difficulty-easy-r2", 2),
    ]
    assert damage["population_strict_share"].tolist() == [1.0, 0.25, 0.5]
    assert damage["specific_fpr"].tolist() == [0.0, 0.5, 0.25]
    assert damage["n_held_out"].tolist() == [4, 4, 4]
    # holdout 0.5: the rate is over the held-out half only (calibration.split's second part)
    half = units.population_damage(population, POPULATION_TABLE, calibrations, trace, holdout=0.5, seed=0)
    _, held = calibration.split(POPULATION_TABLE[POPULATION_TABLE["kind"] == "id_population"], "id", 0.5, 0)
    assert (half["n_held_out"] == 2).all() and len(held) == 2
    outside_at_2 = {"id-difficulty-easy-r1": {"p0", "p3"}, "id-difficulty-easy-r2": {"p3"}}
    for row in half[half["step"] == 2].itertuples():
        expected = np.mean([m in outside_at_2[row.forget_set] for m in held["example_id"]])
        assert row.specific_fpr == expected
    assert half["population_strict_share"].tolist() == [1.0, 0.25, 0.5]  # every evaluated member counts


# --- calibration: the specific test's pieces and the tests' power ------------------------


def test_split_is_a_seeded_partition_per_kind():
    members = POPULATION_TABLE[POPULATION_TABLE["kind"] == "id_population"]
    fit, held = calibration.split(members, "id", 0.5, 0)
    assert sorted([*fit["example_id"], *held["example_id"]]) == ["p0", "p1", "p2", "p3"] and len(held) == 2
    again = calibration.split(members, "id", 0.5, 0)
    assert again[1]["example_id"].tolist() == held["example_id"].tolist()  # the same seed: the same split
    fit, held = calibration.split(members, "id", 0.0, 0)
    assert len(fit) == 4 and len(held) == 0


def test_damage_and_the_pooled_statistic_by_hand():
    # (bits_t - bits_0) / sqrt(target_len + 1): 2 / 2 and 6 / 3; positive: the member became less likely
    assert calibration.damage([12.0, 16.0], [10.0, 10.0], [3, 8]).tolist() == [1.0, 2.0]
    assert calibration.pooled_statistic([4.0, -6.0], [3, 8]).tolist() == [2.0, -2.0]


def test_specific_band_is_the_central_share_of_every_null_minus_damage_pair():
    """g_0 = 0, 10, 20 against damage 0, 1, 2: the nine differences sorted are -2, -1, 0, 8,
    9, 10, 18, 19, 20; alpha 0.5 takes numpy's 25% and 75% quantiles, positions 2 and 6: 0
    and 18. (Quantiles of g_0 minus quantiles of the damage would give 5 - 1.5 and 15 -
    0.5.) alpha 0: the extremes, min g_0 - max damage and max g_0 - min damage."""
    assert calibration.specific_band([0.0, 10.0, 20.0], [0.0, 1.0, 2.0], 0.5) == (0.0, 18.0)
    assert calibration.specific_band([0.0, 10.0, 20.0], [0.0, 1.0, 2.0], 0.0) == (-2.0, 20.0)
    assert calibration.specific_band([1.0], [0.0], 0.05) == (1.0, 1.0)  # no damage: the null itself


# A population of five members (target_len 3) and six ID candidates; one seed per half, so
# each half's LME column is its one seed's. bits_B - bits_A = -4, -2, -1, 0, 3.
POWER_TABLE = pd.DataFrame(
    {
        "example_id": ["p0", "p1", "p2", "p3", "p4", "c1", "c2", "c3", "c4", "c5", "c6"],
        "kind": ["id_population"] * 5 + ["id"] * 6,
        "target_len": 3,
        "bits_A_seed1": [20.0] * 5 + [np.nan] * 6,
        "bits_B_seed1": [16.0, 18.0, 19.0, 20.0, 23.0] + [np.nan] * 6,
        "half": [None] * 5 + ["A", "A", "B", "B", "A", "B"],
        "repetitions": [np.nan] * 5 + [1, 1, 1, 4, 4, 4],
        "mem": [np.nan] * 5 + [1.0, -1.0, 1.0, 6.0, -2.0, -1.0],
        "bits_in": [np.nan] * 5 + [20.0] * 6,
    }
).assign(bits_A=lambda d: d["bits_A_seed1"], bits_B=lambda d: d["bits_B_seed1"])


def test_step0_null_by_hand():
    members = POWER_TABLE[POWER_TABLE["kind"] == "id_population"]
    # a model of half A: (bits_B - bits_A_seed1) / 2; of half B: (bits_A - bits_B_seed1) / 2
    assert calibration.step0_null(members, "A", 1).tolist() == [-2.0, -1.0, -0.5, 0.0, 1.5]
    assert calibration.step0_null(members, "B", 1).tolist() == [2.0, 1.0, 0.5, 0.0, -1.5]


def test_power_of_each_test_before_unlearning_by_hand():
    """alpha 0.5, holdout 0 (every member fits the band): the specific bands are numpy's 25%
    and 75% quantiles of the step-0 nulls (positions 1 and 3 of five): half A's -2, -1, -0.5,
    0, 1.5 -> [-1, 0]; half B's -1.5, 0, 0.5, 1, 2 -> [0, 1]. The strict band [-1, 1].
    Candidates' statistics mem / 2: c1 (A) 0.5: strict in, specific out; c2 (A) -0.5: in, in;
    c3 (B) 0.5: in, in; c4 (B) 3: out, out; c5 (A) -1: in, in (both edges); c6 (B) -0.5: in,
    out. Repetitions 1 (c1-c3): strict power 0, specific 1/3; 4 (c4-c6): 1/3 and 2/3."""
    calibrations = pd.DataFrame(
        [{"kind": "id", "mode": "pooled", "seeds_per_half": 1, "band_low": -1.0, "band_high": 1.0}]
    )
    power = calibration.power(POWER_TABLE, calibrations, alpha=0.5, holdout=0.0, seed=0)
    assert power[["kind", "repetitions", "n"]].values.tolist() == [["id", 1, 3], ["id", 4, 3]]
    assert power["strict_power"].tolist() == pytest.approx([0.0, 1 / 3])
    assert power["specific_power"].tolist() == pytest.approx([1 / 3, 2 / 3])


def test_indistinguishable_per_example_mode():
    """per_example: t = (mean_out - bits) / (sd_out * sqrt(1 + 1/S)); with S = 3 and
    sd_out = 3 the denominator is 3 * sqrt(4/3) = 2 sqrt(3)."""
    rows = pd.DataFrame(
        {
            "genex": np.nan,  # not read in this mode
            "target_len": TARGET_LEN,
            "bits": [14.0, 12.0, 20.0 - 2 * np.sqrt(3) * 2.5, 26.0],
            "bits_out_mean": 20.0,
            "bits_out_sd": 3.0,
        }
    )
    band = {"mode": "per_example", "seeds_per_half": 3, "band_low": -2.0, "band_high": 2.0}
    # t = 6 / (2 sqrt 3) = sqrt 3 = 1.73 (inside +-2); 8 / (2 sqrt 3) = 2.31 (outside); 2.5 (outside);
    # -6 / (2 sqrt 3) = -1.73 (inside)
    assert calibration.indistinguishable(rows, band).tolist() == [True, False, False, True]
    pooled = {"mode": "pooled", "band_low": -1.0, "band_high": 1.0}  # GenEx / 2 in [-1, 1]
    assert calibration.indistinguishable(rows.assign(genex=[2.0, -2.0, 2.5, 0.0]), pooled).tolist() == [
        True,
        True,
        False,
        True,
    ]
