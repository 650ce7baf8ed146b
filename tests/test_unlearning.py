"""Unlearning loop on a real tiny fairseq model (see conftest.tiny_model)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from unlearn_study import methods
from unlearn_study.backends.fairseq import scoring
from unlearn_study.backends.fairseq.generation import Generation, translate
from unlearn_study.study import evaluation, unlearning

SETTINGS = unlearning.Settings(
    optimizer="adam",
    lr=3e-3,
    steps=4,
    eval_steps=(0, 2, 4),
    batch_size=None,
    retain_batch_size=8,
    clip_norm=1.0,
    seed=7,
)
GENERATION = Generation(beam=1, max_len_a=1.5, max_len_b=10, max_tokens=8000)


def eval_data(model, tiny_model, max_tokens: int = 500) -> evaluation.EvalData:
    """Forget 6 training pairs; population, neighbours and test from held-out pairs."""
    train_src, train_tgt = tiny_model.lines("train")
    valid_src, valid_tgt = tiny_model.lines("valid")
    test_src, test_tgt = tiny_model.lines("test")

    def encode(src, tgt):
        return scoring.encode_pairs(model.src_dict, model.tgt_dict, src, tgt, max_tokens=max_tokens)

    forget_pairs = encode(train_src[:6], train_tgt[:6])
    forget = pd.DataFrame(
        {
            "example_id": [f"f{i}" for i in range(6)],
            "kind": "id",
            "repetitions": 1,
            "diff_tercile": "easy",
            "mem_tercile": "low",
            "target_len": forget_pairs.target_lengths,
            "tgt": train_tgt[:6],  # the decoded target (decode is the identity here)
            # a reference model 5 bits less sure of each example than the base model
            "bits_out": scoring.score(model, forget_pairs) + 5.0,
        }
    )
    neighbours = pd.DataFrame({"forget_id": ["f0", "f0"], "group": ["trained", "unseen"], "example_id": ["t10", "v0"]})
    return evaluation.EvalData(
        kind="id",
        forget=forget,
        forget_pairs=forget_pairs,
        population=encode(valid_src, valid_tgt),
        population_ids=[f"v{i}" for i in range(len(valid_src))],
        neighbours=neighbours,
        neighbour_pairs=encode([train_src[10], valid_src[0]], [train_tgt[10], valid_tgt[0]]),
        neighbour_ids=["t10", "v0"],
        test_pairs=encode(test_src[:10], test_tgt[:10]),
        test_references=test_tgt[:10],
        retain_pairs=encode(train_src[20:40], train_tgt[20:40]),
        retain_train_pairs=encode(train_src[40:80], train_tgt[40:80]),
        decode=lambda pieces: pieces,
        generation=GENERATION,
    )


def run(tiny_model, method="gradient_ascent", **overrides):
    model = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir)
    return unlearning.unlearn(
        model, eval_data(model, tiny_model), methods.create(method), dataclasses.replace(SETTINGS, **overrides)
    )


@pytest.mark.parametrize("method", sorted(methods.REGISTRY))
def test_unlearning_raises_the_forget_loss_and_lowers_genex(tiny_model, method):
    result = run(tiny_model, method)
    examples, steps, status = result.examples, result.steps, result.status
    assert status == "ok"
    assert steps["step"].tolist() == [0, 2, 4]
    assert steps["forget_bpt"].iloc[-1] > steps["forget_bpt"].iloc[0] + 0.1
    assert steps["genex_mean"].is_monotonic_decreasing
    step0 = examples[examples["step"] == 0]
    assert np.allclose(step0["genex"], 5.0)  # GenEx before unlearning = bits_out - bits_in
    assert {"bleu", "chrf", "test_bpt", "retain_bpt", "neighbour_trained_delta_bpt"} <= set(steps)
    assert steps["bleu_signature"].iloc[0].startswith("nrefs:1")
    assert steps.loc[0, "neighbour_trained_delta_bpt"] == 0.0
    assert result.translations.groupby("step").size().to_dict() == {0: 10, 2: 10, 4: 10}  # the test set at each step


def test_unlearning_is_bit_identical_on_cpu(tiny_model):
    a, b = run(tiny_model), run(tiny_model)
    for part in ("examples", "steps", "translations"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part), check_exact=True)


def test_batch_budgets_change_the_tables_by_float_rounding_only(tiny_model):
    """scoring.max_tokens and generation.max_tokens are resources, not parameters: scoring in
    batches of at most 60 tokens (one or two pairs) and translating one sentence at a time
    give the same run as one large batch: every number within 1e-4 relative (1e-4 absolute
    near 0; the largest difference seen is 2.4e-5 relative), the same translations, verdicts
    and extraction."""
    model = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir)
    large = unlearning.unlearn(
        model, eval_data(model, tiny_model, max_tokens=100_000), methods.create("gradient_ascent"), SETTINGS
    )
    model = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir)
    data = dataclasses.replace(
        eval_data(model, tiny_model, max_tokens=60), generation=dataclasses.replace(GENERATION, max_tokens=1)
    )
    small = unlearning.unlearn(model, data, methods.create("gradient_ascent"), SETTINGS)
    for part in ("examples", "steps"):
        a, b = getattr(large, part), getattr(small, part)
        numeric = a.select_dtypes("number").columns
        pd.testing.assert_frame_equal(a.drop(columns=numeric), b.drop(columns=numeric), check_exact=True)
        np.testing.assert_allclose(a[numeric], b[numeric], rtol=1e-4, atol=1e-4)
    pd.testing.assert_frame_equal(large.translations, small.translations, check_exact=True)


def test_shared_step0_evaluation_gives_the_same_result(tiny_model, monkeypatch):
    """Step 0 taken from a precomputed model evaluation (rule base_evaluation) changes nothing
    and saves exactly one model evaluation."""
    model = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir)
    data = eval_data(model, tiny_model)
    data.base = evaluation.model_evaluation(
        model,
        {"id": data.population},
        data.test_pairs,
        data.retain_pairs,
        data.decode,
        data.generation,
        {"generation_s": 0.0, "scoring_s": 0.0},
    )
    calls = []
    monkeypatch.setattr(evaluation, "translate", lambda *args: calls.append(1) or translate(*args))
    shared = unlearning.unlearn(model, data, methods.create("gradient_ascent"), SETTINGS)
    shared_calls = len(calls)
    own = run(tiny_model)
    for part in ("examples", "steps", "translations"):
        pd.testing.assert_frame_equal(getattr(shared, part), getattr(own, part), check_exact=True)
    # eval steps [0, 2, 4]: the forget set's extraction at each, the test set at each but a shared step 0
    assert (shared_calls, len(calls) - shared_calls) == (3 + 2, 3 + 3)


def test_divergence_stops_with_a_partial_result(tiny_model):
    result = run(tiny_model, optimizer="sgd", lr=1e38, clip_norm=1e38)
    examples, steps, status = result.examples, result.steps, result.status
    assert status.startswith("diverged: loss")
    assert steps["step"].tolist()[0] == 0 and steps["step"].max() < 4
    assert set(examples["step"]) == set(steps["step"])


def test_translation_does_not_depend_on_the_batching(tiny_model):
    """Each hypothesis is capped by its own source length, as if translated alone: one
    batch of all sources gives the same hypotheses as one batch per source. The caps here
    are short enough to end many hypotheses, including short sources batched with long ones."""
    model = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir)
    src, tgt = tiny_model.lines("test")
    pairs = scoring.encode_pairs(model.src_dict, model.tgt_dict, src, tgt, max_tokens=500)
    generation = Generation(beam=2, max_len_a=0.5, max_len_b=1, max_tokens=8000)
    together = translate(model, pairs, lambda pieces: pieces, generation)
    alone = translate(model, pairs, lambda pieces: pieces, dataclasses.replace(generation, max_tokens=1))
    assert together == alone
    caps = [int(0.5 * s.numel() + 1) for s in pairs.src_tokens]
    lengths = [len(h.split()) for h in together]
    assert all(n <= cap for n, cap in zip(lengths, caps))
    assert sum(n == cap < max(caps) for n, cap in zip(lengths, caps)) >= 5


@pytest.mark.parametrize("optimizer, lr", [("adafactor", 1e-2), ("adam", 3e-3), ("sgd", 1.0)])
def test_every_optimizer_unlearns(tiny_model, optimizer, lr):
    steps = run(tiny_model, optimizer=optimizer, lr=lr).steps
    assert steps["forget_bpt"].iloc[-1] > steps["forget_bpt"].iloc[0]


def test_smaller_batches_take_a_part_of_the_forget_set_each_step(tiny_model):
    whole, pairs = run(tiny_model), run(tiny_model, batch_size=2)
    assert whole.steps["forget_bpt"].iloc[-1] != pairs.steps["forget_bpt"].iloc[-1]
    assert pairs.status == "ok" and pairs.steps["extraction_rate"].between(0, 1).all()
