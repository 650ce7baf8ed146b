"""Hand-computed checks for unlearn_study.metrics."""

import numpy as np
import pytest

from unlearn_study.metrics import core as m

# --- lme ---------------------------------------------------------------------


def test_lme_two_seeds_by_hand():
    # mean probability (2^-1 + 2^-3) / 2 = 0.3125
    assert m.lme(np.array([1.0, 3.0])) == pytest.approx(-np.log2(0.3125))


def test_lme_single_seed_is_identity_and_rows():
    assert m.lme(np.array([7.5])) == pytest.approx(7.5)
    out = m.lme(np.array([[1.0, 3.0], [2.0, 2.0]]))
    np.testing.assert_allclose(out, [-np.log2(0.3125), 2.0])


def test_lme_stable_for_huge_losses():
    # 2^-5000 underflows; result must still be 5000 - log2(...) exactly
    out = m.lme(np.array([5000.0, 5001.0]))
    assert out == pytest.approx(-np.log2((1 + 0.5) / 2) + 5000)


# --- rank exposure -----------------------------------------------------------

POP = np.array([1.0, 2.0, 2.0, 3.0, 5.0, 8.0, 13.0])  # |R| = 7 + candidate = 8


def test_rank_exposure_extremes():
    out = m.rank_exposure(np.array([0.5, 100.0]), POP)
    np.testing.assert_allclose(out, [3.0, 0.0])  # log2 8, and 0


def test_rank_exposure_ties_do_not_count():
    # v = 2: only r = 1 is strictly smaller -> rank 2 -> log2 8 - 1
    # v = 2.5: r = 1, 2, 2 smaller -> rank 4 -> log2 8 - 2
    # v = 1: nothing strictly smaller -> rank 1 -> 3
    out = m.rank_exposure(np.array([2.0, 2.5, 1.0]), POP)
    np.testing.assert_allclose(out, [2.0, 1.0, 3.0])


def test_rank_exposure_preserves_shape_and_unsorted_population():
    vals = np.array([[0.0, 4.0], [13.0, 14.0]])
    out = m.rank_exposure(vals, POP[::-1])
    # ranks: 1, 5, 7, 8
    expected = 3.0 - np.log2([[1, 5], [7, 8]])
    np.testing.assert_allclose(out, expected)


def test_rank_exposure_matches_naive_loop_on_large_input():
    rng = np.random.default_rng(0)
    pop = np.round(rng.normal(5, 1, 10_000), 2)  # rounding creates ties
    vals = np.round(rng.normal(5, 1.5, 1_000), 2)
    out = m.rank_exposure(vals, pop)
    assert out.shape == (1000,)
    for i in rng.choice(1000, 50, replace=False):
        rank = 1 + sum(1 for r in pop if r < vals[i])
        assert out[i] == pytest.approx(np.log2(len(pop) + 1) - np.log2(rank))


# --- skew-normal exposure ----------------------------------------------------


def test_skewnorm_exposure_monotone_and_close_to_rank_in_bulk():
    rng = np.random.default_rng(1)
    pop = rng.normal(4.0, 0.5, 100_000)
    params = m.fit_skewnorm(pop)
    assert params == m.fit_skewnorm(pop)  # deterministic
    vals = np.linspace(1.0, 7.0, 200)  # decreasing exposure as bits grow
    ex = m.skewnorm_exposure(vals, params)
    assert np.all(np.isfinite(ex))
    assert np.all(np.diff(ex) < 0)
    bulk = np.quantile(pop, [0.02, 0.1, 0.3, 0.5, 0.8])
    np.testing.assert_allclose(m.skewnorm_exposure(bulk, params), m.rank_exposure(bulk, pop), atol=0.05)
    # far tail: extrapolates beyond log2 |R| (~16.6 bits)
    assert m.skewnorm_exposure(np.array([0.0]), params)[0] > 30


def test_fit_skewnorm_zero_variance_raises():
    with pytest.raises(ValueError, match="zero variance"):
        m.fit_skewnorm(np.full(100, 3.0))


# --- generalised / relative exposure ----------------------------------------


def test_generalised_exposure_several_seeds():
    ref = np.array([[10.0, 12.0], [5.0, 5.0]])
    mod = np.array([[1.0, 3.0, 1.0], [6.0, 6.0, 6.0]])
    # row 0: LME(ref) = -log2((2^-10 + 2^-12)/2), LME(mod) = -log2((0.5+0.125+0.5)/3)
    exp0 = -np.log2((2**-10 + 2**-12) / 2) + np.log2(1.125 / 3)
    np.testing.assert_allclose(m.generalised_exposure(ref, mod), [exp0, -1.0])


def test_generalised_exposure_one_seed_is_mem():
    ref = np.array([20.0, 15.0, 9.0])
    base = np.array([4.0, 15.0, 11.0])
    np.testing.assert_allclose(m.generalised_exposure(ref, base), ref - base)
    np.testing.assert_allclose(m.generalised_exposure(ref[:, None], base), ref - base)


def test_relative_exposure_by_hand():
    pop = np.array([1.0, 2.0, 3.0, 10.0])  # median 2.5 bits/token
    out = m.relative_exposure(np.array([3, 9]), pop, np.array([4.0, 30.0]))
    np.testing.assert_allclose(out, [4 * 2.5 - 4.0, 10 * 2.5 - 30.0])


# --- terciles ----------------------------------------------------------------


def test_terciles_one_to_nine():
    out = m.terciles(np.arange(1, 10))
    assert out.dtype == object
    assert list(out) == ["low"] * 3 + ["medium"] * 3 + ["high"] * 3


def test_terciles_ties_go_low_and_share_label():
    # q1 = q2 = 1 -> all 1s are "low", the 5 is "high", nothing medium
    out = m.terciles(np.array([1, 1, 1, 1, 5]), labels=("a", "b", "c"))
    assert list(out) == ["a", "a", "a", "a", "c"]
    # q1 = q2 = 2: tied 2s share "low"
    out = m.terciles(np.array([1.0, 2.0, 2.0, 3.0]))
    assert list(out) == ["low", "low", "low", "high"]


def test_terciles_too_few():
    with pytest.raises(ValueError):
        m.terciles(np.array([1.0, 2.0]))


# --- steps to unlearn --------------------------------------------------------


def test_steps_to_unlearn():
    steps = np.array([0, 10, 20, 40])
    genex = np.array([[5.0, 5.0, 0.0, 3.0], [2.0, 6.0, 1.0, np.nan], [-1.0, 7.0, 2.0, 1.0], [3.0, 8.0, 3.0, 0.5]])
    out = m.steps_to_unlearn(steps, genex)
    np.testing.assert_array_equal(out, [20.0, np.nan, 0.0, np.nan])
    np.testing.assert_array_equal(m.steps_to_unlearn(steps, genex, tau=1.0), [20.0, np.nan, 0.0, 20.0])
    assert m.steps_to_unlearn(steps, genex[:, 0]) == 20.0


# --- agreement ---------------------------------------------------------------


def test_agreement_monotone_and_nan_safe():
    x = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    y = np.array([10.0, 20.0, 35.0, 1.0, np.nan])
    out = m.agreement(x, y)
    assert out["spearman"] == pytest.approx(1.0)
    assert out["mae"] == pytest.approx((9 + 18 + 32) / 3)
    assert m.agreement(x, -y)["spearman"] == pytest.approx(-1.0)


def tf_privacy_interpolation(secret: float, references) -> float:
    """tensorflow-privacy's compute_exposure_interpolation for one secret, written out from
    its definition: log2 |R| - log2 rank, rank = 1 + the references before the secret in
    an argsort of secret and references (secret first, so np.argsort's order breaks ties)."""
    scores = np.concatenate([[secret], references])
    order = np.argsort(scores)  # quicksort: ties in sort order, as the library leaves them
    is_reference = (order != 0).astype(int)
    position = int(np.flatnonzero(order == 0)[0])
    return float(np.log2(len(references)) - np.log2(1 + is_reference[:position].sum()))


def test_rank_exposure_is_tf_privacys_interpolation_plus_a_constant_when_nothing_ties():
    """Ours counts the candidate in the randomness space: log2(|R| + 1) - log2 rank, rank = 1
    + #{r < v}. With no reference tied with the secret, the ranks agree, so ours is
    tensorflow-privacy's plus log2((|R| + 1) / |R|): 0.1375 bits for |R| = 7, 1.4e-4 for 10,000."""
    refs = np.array([1.0, 2.0, 2.5, 3.0, 5.0, 8.0, 13.0])
    for v in (0.5, 2.2, 4.0, 20.0):
        ours = float(m.rank_exposure(np.array([v]), refs)[0])
        assert ours == pytest.approx(tf_privacy_interpolation(v, refs) + np.log2(8 / 7))
    # 2.7: three references are smaller (1, 2, 2.5), rank 4: ours log2 8 - 2 = 1; theirs log2 7 - 2
    assert float(m.rank_exposure(np.array([2.7]), refs)[0]) == pytest.approx(1.0)
    assert tf_privacy_interpolation(2.7, refs) == pytest.approx(np.log2(7) - 2)
    # the extremes: ours spans [0, log2(|R|+1)], theirs [log2 |R| - log2(|R|+1), log2 |R|]
    assert tf_privacy_interpolation(0.5, refs) == pytest.approx(np.log2(7))
    assert tf_privacy_interpolation(20.0, refs) == pytest.approx(np.log2(7) - 3)


def test_rank_exposure_on_a_tie_counts_no_tied_reference():
    """With a reference tied with the secret, ours never counts it (rank 1 + strictly
    smaller); tensorflow-privacy's rank depends on where the sort puts the tie."""
    refs = np.array([1.0, 2.0, 3.0])
    ours = float(m.rank_exposure(np.array([2.0]), refs)[0])
    assert ours == pytest.approx(2.0 - 1.0)  # rank 2 of |R| + 1 = 4
    assert tf_privacy_interpolation(2.0, refs) <= ours - np.log2(4 / 3) + 1e-12
