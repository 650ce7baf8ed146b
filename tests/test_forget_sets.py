"""Halves, the example table's in/out scores, forget sets and neighbours on hand-made data."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from unlearn_study.data import sets
from unlearn_study.infra.config import load_config
from unlearn_study.metrics.core import lme
from unlearn_study.reporting import markdown
from unlearn_study.study import examples, forget_sets, neighbours


def candidates(n_id=60, per_level=12, levels=(1, 4, 16)):
    ids = pd.DataFrame({"example_id": [f"id-{i}" for i in range(n_id)], "kind": "id", "repetitions": 1})
    ood = pd.DataFrame(
        {
            "example_id": [f"ood-{i}" for i in range(per_level * len(levels))],
            "kind": "ood",
            "repetitions": np.repeat(levels, per_level),
        }
    )
    return ids, ood


def test_halves_are_disjoint_stratified_and_seeded():
    ids, ood = candidates(n_id=61, per_level=13)
    halves = sets.split_halves(ids, ood, seed=6)
    assert halves["example_id"].is_unique and set(halves["half"]) == {"A", "B"}
    assert len(halves) == len(ids) + len(ood)
    counts = halves.groupby(["kind", "repetitions", "half"]).size().unstack("half")
    assert ((counts["A"] - counts["B"]).abs() <= 1).all()  # every stratum split evenly (odd: one apart)
    pd.testing.assert_frame_equal(halves, sets.split_halves(ids, ood, seed=6))
    assert not halves["half"].equals(sets.split_halves(ids, ood, seed=7)["half"])


@pytest.fixture
def table():
    """An example table from hand-made scores: two halves, two seeds each."""
    rng = np.random.default_rng(0)
    ids, ood = candidates(n_id=60, per_level=20)
    halves = sets.split_halves(ids, ood, seed=1)
    n_pop = 50
    pool = pd.concat(
        [
            halves[["example_id", "kind", "repetitions"]],
            pd.DataFrame(
                {
                    "example_id": [f"p{i}" for i in range(2 * n_pop)],
                    "kind": ["id_population"] * n_pop + ["ood_population"] * n_pop,
                    "repetitions": 0,
                }
            ),
        ],
        ignore_index=True,
    ).assign(target_len=9)
    level = rng.normal(60, 5, len(pool))
    in_a = pool["example_id"].isin(halves.loc[halves["half"] == "A", "example_id"]).to_numpy()
    in_b = pool["example_id"].isin(halves.loc[halves["half"] == "B", "example_id"]).to_numpy()
    memorised = rng.uniform(0, 20, len(pool))
    bits = {
        (half, seed): level + rng.normal(0, 1, len(pool)) - memorised * (in_a if half == "A" else in_b)
        for half in ("A", "B")
        for seed in (1, 2)
    }
    candidate = pool["kind"].isin(["id", "ood"]).to_numpy()
    extracted = {key: np.where(candidate, (np.arange(len(pool)) % 4 == 0).astype(float), np.nan) for key in bits}
    return examples.example_table(pool, halves, bits, extracted), bits, in_a, in_b


def test_memorisation_uses_in_and_out_models_combined_over_seeds(table):
    table, bits, in_a, in_b = table
    a = lme(np.stack([bits[("A", 1)], bits[("A", 2)]], axis=1), axis=1)
    b = lme(np.stack([bits[("B", 1)], bits[("B", 2)]], axis=1), axis=1)
    # by hand: LME over a half's two seeds = -log2 of the mean probability
    assert a[0] == pytest.approx(-np.log2((2.0 ** -bits[("A", 1)][0] + 2.0 ** -bits[("A", 2)][0]) / 2))
    np.testing.assert_allclose(table.loc[in_a, "mem"], (b - a)[in_a])  # in = A, out = B
    np.testing.assert_allclose(table.loc[in_b, "mem"], (a - b)[in_b])
    np.testing.assert_allclose(table.loc[in_a, "diff"], b[in_a] / 10)  # bits/token under the out-models
    np.testing.assert_allclose(table.loc[in_a, "bits_out_mean"], ((bits[("B", 1)] + bits[("B", 2)]) / 2)[in_a])
    population = table[table["kind"] == "id_population"]
    assert population["half"].isna().all() and population["mem"].isna().all()
    assert (table.loc[in_a | in_b, "mem"] > -5).mean() > 0.9  # the in-models saw them
    ids = table[table["kind"] == "id"]
    assert ids["diff_tercile"].value_counts().to_dict() == {"easy": 20, "medium": 20, "hard": 20}
    assert table.loc[table["kind"] == "ood", "exposure_rank"].between(0, np.log2(51)).all()
    summary = examples.summary(table)
    assert abs(summary["ood_population.a_minus_b_mean"]) < 1  # no model saw the population
    difference = population["bits_A"] - population["bits_B"]
    assert summary["id_population.n"] == len(population)
    assert summary["id_population.a_minus_b_se"] == pytest.approx(difference.std() / np.sqrt(len(population)))
    assert summary["id.mem_se"] == pytest.approx(ids["mem"].std() / np.sqrt(len(ids)))
    rendered = "\n".join(markdown.scores_section(examples.score_groups(table), examples.population_check(table)))
    mean, se = summary["id.mem_mean"], summary["id.mem_se"]
    q = scipy_stats.t.ppf(0.975, len(ids) - 1)  # the t interval over the 60 examples
    row = f"| ID (in-distribution training pairs) | 1x | {len(ids)} | {mean:.2f} [{mean - q * se:.2f},"
    assert row in rendered


def test_replicates_are_disjoint_alternate_halves_and_are_stable(table):
    table = table[0]
    names = [f"id-difficulty-hard-r{r}" for r in (1, 2, 3, 4)]
    chosen = {name: forget_sets.select(table, name, 3, seed=4) for name in names}
    assert [set(c["half"]) for c in chosen.values()] == [{"A"}, {"B"}, {"A"}, {"B"}]
    ids = [set(c["example_id"]) for c in chosen.values()]
    assert all(not (ids[i] & ids[j]) for i in range(4) for j in range(i + 1, 4))
    assert all((c["diff_tercile"] == "hard").all() and (c["kind"] == "id").all() for c in chosen.values())
    pd.testing.assert_frame_equal(forget_sets.select(table, names[0], 3, seed=4), chosen[names[0]])
    reps = forget_sets.select(table, "ood-repetition-16-r2", 5, seed=4)
    assert (reps["repetitions"] == 16).all() and (reps["half"] == "B").all()
    with pytest.raises(ValueError, match="bucket ood-repetition-16 has 10 examples in half A"):
        forget_sets.select(table, "ood-repetition-16-r3", 6, seed=4)


def test_forget_set_names_follow_the_config():
    config = load_config()
    names = forget_sets.forget_set_names(config)
    replicates = config["forget_sets"]["replicates"]
    assert "id-difficulty-easy-r1" in names and f"ood-memorisation-high-r{replicates}" in names
    assert len(names) == len(forget_sets.buckets(config)) * replicates
    described = forget_sets.parse("ood-repetition-16-r2")
    assert (described.kind, described.bucket, described.replicate, described.half) == ("ood", "16", 2, "B")
    with pytest.raises(ValueError, match="not a forget set name"):
        forget_sets.parse("id-difficulty-easy")


def test_neighbours_find_the_similar_pair_and_exclude_the_forget_set():
    def frame(ids, texts):
        return pd.DataFrame({"example_id": ids, "src": texts, "tgt": texts, "src_pieces": texts, "tgt_pieces": texts})

    forget = frame(["f1"], ["the lord spoke to moses saying"])
    training = frame(
        ["f1", "t1", "t2"],
        ["the lord spoke to moses saying", "the lord spoke to aaron saying", "and the sons of levi were counted"],
    )
    population = frame(["p1", "p2"], ["moses spoke to the people", "bread and wine"])
    result = neighbours.nearest(forget, training, population, k=1)
    assert result.set_index("group")["example_id"].to_dict() == {"trained": "t1", "unseen": "p1"}
    assert (result["similarity"] > 0).all()
