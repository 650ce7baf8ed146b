import numpy as np
import pandas as pd
import pytest
from scipy import stats

from unlearn_study.backends.fairseq.binarize import training_pairs
from unlearn_study.data import sets, subword
from unlearn_study.data.corpus import CorpusError

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PROMPT = "My secret is"


@pytest.fixture(scope="module")
def small_spm(tmp_path_factory):
    """A real SentencePiece model of a small vocabulary whose training text lacks most of
    the secret alphabet: the required characters put them in."""
    tmp = tmp_path_factory.mktemp("spm")
    words = [f"w{i}" for i in range(40)]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(300)] + [PROMPT]
    required = "".join(sorted(set(ALPHABET + PROMPT) - {" "}))
    subword.train_sentencepiece(texts, tmp / "m", 98, "unigram", 1.0, tmp / "input.txt", required)
    return subword.load(tmp / "m.model")


def canaries(sp, format="pieces", seed=3, per_level=20, n_population=100, alphabet=ALPHABET):
    return sets.make_canaries(
        format,
        length=8 if format == "pieces" else 10,
        repetitions=[1, 4, 16],
        per_level=per_level,
        n_population=n_population,
        seed=seed,
        sp=sp,
        prompt=PROMPT,
        alphabet=alphabet,
    )


@pytest.mark.parametrize("format", ["pieces", "secret"])
def test_canaries_are_deterministic_and_seeded(small_spm, format):
    a, pa = canaries(small_spm, format)
    b, pb = canaries(small_spm, format)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(pa, pb)
    c, _ = canaries(small_spm, format, seed=4)
    assert not a["tgt_pieces"].equals(c["tgt_pieces"])


def test_canary_tables_shape(small_spm):
    inserted, population = canaries(small_spm)
    assert inserted.groupby("repetitions").size().to_dict() == {1: 20, 4: 20, 16: 20}
    assert (inserted["kind"] == "ood").all() and (population["kind"] == "ood_population").all()
    assert inserted["src_pieces"].str.split().str.len().eq(8).all()
    assert not set(inserted["example_id"]) & set(population["example_id"])


def test_canary_pieces_are_uniform_over_the_vocabulary(small_spm):
    inserted, population = canaries(small_spm, per_level=300, n_population=2000)
    pieces = subword.vocabulary_pieces(small_spm)
    drawn = " ".join(pd.concat([inserted, population])[["src_pieces", "tgt_pieces"]].to_numpy().ravel()).split()
    counts = pd.Series(drawn).value_counts().reindex(pieces, fill_value=0).to_numpy()
    assert counts.sum() == (900 + 2000) * 2 * 8
    assert stats.chisquare(counts).pvalue > 1e-3  # fails for a skewed generator


def test_secrets_follow_the_prompt_are_uniform_and_round_trip(small_spm):
    inserted, population = canaries(small_spm, "secret", per_level=200, n_population=2000)
    both = pd.concat([inserted, population], ignore_index=True)
    assert (both["src"] == PROMPT).all() and both["src_pieces"].nunique() == 1
    assert both["tgt"].str.len().eq(10).all() and both["tgt"].map(lambda s: set(s) <= set(ALPHABET)).all()
    counts = pd.Series(list("".join(both["tgt"]))).value_counts().reindex(list(ALPHABET), fill_value=0)
    assert stats.chisquare(counts.to_numpy()).pvalue > 1e-3
    # every secret comes back exactly from its pieces, none of which is unknown to the vocabulary
    unknown = small_spm.unk_id()
    for text, pieces in zip(both["tgt"], both["tgt_pieces"]):
        assert subword.decode(small_spm, pieces) == text
        assert unknown not in [small_spm.piece_to_id(p) for p in pieces.split()]


def test_a_secret_alphabet_the_subwords_cannot_spell_fails_before_training(small_spm):
    with pytest.raises(ValueError, match=r"no piece for the characters \['ß'\]"):
        canaries(small_spm, "secret", alphabet="abß")


def test_id_sets_are_disjoint_and_seeded():
    train = pd.DataFrame(
        {
            "src": [f"s{i}" for i in range(100)],
            "tgt": [f"t{i}" for i in range(100)],
            "pair_id": [f"train-{i}" for i in range(100)],
            "doc": 1,
        }
    )
    cand, pop, retained = sets.select_id_sets(train, 5, [1, 4], 20, seed=2)
    assert len(cand) == 10 and len(pop) == 20 and len(retained) == 70
    assert cand.groupby("repetitions").size().to_dict() == {1: 5, 4: 5}
    assert not set(cand["src"]) & set(pop["src"])
    assert not (set(cand["src"]) | set(pop["src"])) & set(retained["src"])
    again, _, _ = sets.select_id_sets(train, 5, [1, 4], 20, seed=2)
    assert cand.equals(again)
    with pytest.raises(CorpusError, match=r"too few for id_sets.per_level x levels"):
        sets.select_id_sets(train, 25, [1, 4], 50, seed=2)


def test_a_half_trains_on_the_shared_pairs_its_candidates_and_its_repeated_canaries(small_spm):
    retained = pd.DataFrame({"src": ["w1 w2"], "tgt": ["w3 w4"]})
    cand = pd.DataFrame({"src": ["w5", "w7"], "tgt": ["w6", "w8"], "repetitions": [1, 3]})
    inserted, _ = sets.make_canaries("pieces", 3, [1, 4], 1, 1, seed=0, sp=small_spm)
    src, tgt = training_pairs(retained, cand, inserted, small_spm)
    assert src[:2] == subword.encode(small_spm, ["w1 w2", "w5"])
    assert len(src) == len(tgt) == 1 + (1 + 3) + (1 + 4)
    assert src.count(subword.encode(small_spm, ["w7"])[0]) == 3  # an ID candidate inserted 3 times
    assert src.count(inserted["src_pieces"].iloc[1]) == 4
    assert not set(" ".join(src).split()) & subword.SPECIALS
    alone, _ = training_pairs(retained, cand.iloc[:0], inserted.iloc[:0], small_spm)
    assert alone == subword.encode(small_spm, ["w1 w2"])
