import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unlearn_study.backends.fairseq.binarize import training_pairs
from unlearn_study.data import sets, subword
from unlearn_study.data.corpus import CorpusError

PIECES = [f"p{i}" for i in range(50)]


def canaries(seed=3, per_level=20, n_population=100):
    return sets.make_canaries(
        PIECES,
        length=8,
        repetitions=[1, 4, 16],
        per_level=per_level,
        n_population=n_population,
        seed=seed,
        decode=lambda s: s.replace(" ", ""),
    )


def test_canaries_are_deterministic_and_seeded():
    a, pa = canaries()
    b, pb = canaries()
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(pa, pb)
    c, _ = canaries(seed=4)
    assert not a["src_pieces"].equals(c["src_pieces"])


def test_canary_tables_shape():
    inserted, population = canaries()
    assert inserted.groupby("repetitions").size().to_dict() == {1: 20, 4: 20, 16: 20}
    assert (inserted["kind"] == "ood").all() and (population["kind"] == "ood_population").all()
    assert inserted["src_pieces"].str.split().str.len().eq(8).all()
    assert not set(inserted["example_id"]) & set(population["example_id"])


def test_canary_pieces_are_uniform_over_the_vocabulary():
    inserted, population = canaries(per_level=300, n_population=2000)
    drawn = " ".join(pd.concat([inserted, population])[["src_pieces", "tgt_pieces"]].to_numpy().ravel()).split()
    counts = pd.Series(drawn).value_counts().reindex(PIECES, fill_value=0).to_numpy()
    assert counts.sum() == (900 + 2000) * 2 * 8
    assert stats.chisquare(counts).pvalue > 1e-3  # fails for a skewed generator


def test_id_sets_are_disjoint_and_seeded():
    train = pd.DataFrame(
        {
            "src": [f"s{i}" for i in range(100)],
            "tgt": [f"t{i}" for i in range(100)],
            "pair_id": [f"train-{i}" for i in range(100)],
            "doc": 1,
        }
    )
    cand, pop, retained = sets.select_id_sets(train, 10, 20, seed=2)
    assert len(cand) == 10 and len(pop) == 20 and len(retained) == 70
    assert not set(cand["src"]) & set(pop["src"])
    assert not (set(cand["src"]) | set(pop["src"])) & set(retained["src"])
    again, _, _ = sets.select_id_sets(train, 10, 20, seed=2)
    assert cand.equals(again)
    with pytest.raises(CorpusError, match="too few for id_sets.n_candidates"):
        sets.select_id_sets(train, 50, 50, seed=2)


@pytest.fixture(scope="module")
def small_spm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spm")
    words = [f"w{i}" for i in range(40)]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(300)]
    subword.train_sentencepiece(texts, tmp / "m", 40, "unigram", 1.0, tmp / "input.txt")
    return subword.load(tmp / "m.model")


def test_a_half_trains_on_the_shared_pairs_its_candidates_and_its_repeated_canaries(small_spm):
    retained = pd.DataFrame({"src": ["w1 w2"], "tgt": ["w3 w4"]})
    cand = pd.DataFrame({"src": ["w5"], "tgt": ["w6"]})
    inserted, _ = sets.make_canaries(
        subword.vocabulary_pieces(small_spm), 3, [1, 4], 1, 1, seed=0, decode=lambda p: subword.decode(small_spm, p)
    )
    src, tgt = training_pairs(retained, cand, inserted, small_spm)
    assert src[:2] == subword.encode(small_spm, ["w1 w2", "w5"])
    assert len(src) == len(tgt) == 2 + 1 + 4
    assert src.count(inserted["src_pieces"].iloc[1]) == 4
    assert not set(" ".join(src).split()) & subword.SPECIALS
    alone, _ = training_pairs(retained, cand.iloc[:0], inserted.iloc[:0], small_spm)
    assert alone == subword.encode(small_spm, ["w1 w2"])
