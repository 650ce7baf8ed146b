import numpy as np
import pandas as pd
import pytest
import yaml

from unlearn_study import forget_sets, neighbours
from unlearn_study.config import validate_config
from unlearn_study.examples import example_table


@pytest.fixture
def table():
    """An example table built from hand-made scores (two seeds per model)."""
    rng = np.random.default_rng(0)
    n_id, n_ood, n_pop = 30, 30, 50
    kinds = ["id"] * n_id + ["ood"] * n_ood + ["id_population"] * n_pop + ["ood_population"] * n_pop
    pool = pd.DataFrame(
        {
            "example_id": [f"e{i}" for i in range(len(kinds))],
            "kind": kinds,
            "repetitions": [1] * n_id + [1, 4, 16] * (n_ood // 3) + [0] * (2 * n_pop),
            "target_len": 9,
        }
    )
    ref = [rng.normal(60, 5, len(pool)) for _ in range(2)]
    base = [r - rng.uniform(0, 20, len(pool)) for r in ref]
    return example_table(pool, base, ref)


def test_example_table_columns(table):
    assert np.allclose(table["mem"], table["bits_ref"] - table["bits_base"])
    assert np.allclose(table["diff"], table["bits_ref"] / 10)
    ids = table[table["kind"] == "id"]
    assert ids["diff_tercile"].value_counts().to_dict() == {"easy": 10, "medium": 10, "hard": 10}
    assert ids.groupby("diff_tercile")["diff"].max()["easy"] < ids.groupby("diff_tercile")["diff"].min()["hard"]
    assert table.loc[table["kind"] == "id_population", "exposure_rank"].isna().all()
    assert table.loc[table["kind"] == "ood", "exposure_rank"].between(0, np.log2(51)).all()


def test_forget_set_selection_is_deterministic_and_inside_its_bucket(table):
    a = forget_sets.select(table, "id-difficulty-hard", 5, seed=4)
    b = forget_sets.select(table, "id-difficulty-hard", 5, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert (a["diff_tercile"] == "hard").all() and (a["kind"] == "id").all()
    assert not a["example_id"].equals(forget_sets.select(table, "id-difficulty-hard", 5, seed=5)["example_id"])
    reps = forget_sets.select(table, "ood-repetition-16", 5, seed=4)
    assert (reps["repetitions"] == 16).all()
    with pytest.raises(ValueError, match="fewer than forget_sets.size"):
        forget_sets.select(table, "ood-repetition-16", 11, seed=4)


def test_forget_set_names_follow_the_config():
    config = validate_config(yaml.safe_load(open("config.yaml")))
    names = forget_sets.forget_set_names(config)
    assert "id-difficulty-easy" in names and "ood-repetition-16" in names
    assert not any(n.startswith("id-repetition") for n in names)
    assert len(names) == 3 + 3 + 3 + 3 + 3


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
