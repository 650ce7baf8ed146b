"""Gradient-based unlearning of one forget set, evaluated at scheduled steps.

Each step takes a batch of the forget set F and minimises the loss of an unlearning
method (``unlearn_study.methods``). Gradients are clipped to ``clip_norm``. Dropout is
off (eval mode), so on the CPU a run is bit-for-bit repeatable. At every scheduled step
(0 included) the model is evaluated without writing a checkpoint: see :func:`evaluate`.
What does not depend on the forget set (:func:`model_evaluation`) is the same at step 0
for every job that starts from the same model; rule ``base_evaluation`` computes it once
and the jobs take it from ``EvalData.base``. Definitions: docs/METHOD.md, *Metrics*.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from . import metrics, scoring
from .methods import Method

log = logging.getLogger(__name__)


@dataclass
class ModelEvaluation:
    """What an evaluation measures that depends on the model alone, not on the forget set."""

    population_bpt: dict  # population kind ("id", "ood") -> bits/token of each member
    test_bpt: np.ndarray
    retain_bpt: np.ndarray
    hypotheses: list  # detokenised test translations


@dataclass(frozen=True)
class Generation:
    """How the test set is translated for BLEU and chrF (config ``unlearning.generation``)."""

    beam: int  # 1 = greedy
    max_len_a: float  # a hypothesis ends after max_len_a x its source length (pieces incl. EOS)
    max_len_b: int  # ... + max_len_b pieces
    max_tokens: int  # token budget of one translation batch


@dataclass
class Run:
    """What one unlearning run measured: per example and step, per step, the test
    translations per step (step, sentence, hypothesis), and its status."""

    examples: pd.DataFrame
    steps: pd.DataFrame
    translations: pd.DataFrame
    status: str


@dataclass(frozen=True)
class Settings:
    """The optimisation (config ``unlearning``): how many steps, which batches, which optimiser."""

    optimizer: str  # adam | sgd
    lr: float
    steps: int
    eval_steps: tuple  # evaluated steps, 0 included
    batch_size: int | None  # forget examples per step; None = the whole forget set
    retain_batch_size: int | None  # retained pairs per step, for methods that descend on them (else None)
    clip_norm: float
    seed: int


@dataclass
class EvalData:
    """Everything evaluated at each step, encoded and batched once per job."""

    kind: str  # the forget set's kind: which population R its exposure is measured against
    forget: pd.DataFrame  # forget set rows of the example table (bits_out, target_len, ...)
    forget_pairs: scoring.EncodedPairs
    population: scoring.EncodedPairs  # R of the forget set's kind
    neighbours: pd.DataFrame  # long table: forget_id, group, example_id
    neighbour_pairs: scoring.EncodedPairs  # unique neighbour examples
    neighbour_ids: list
    test_pairs: scoring.EncodedPairs
    test_references: list  # detokenised target text
    retain_pairs: scoring.EncodedPairs  # retain sample, evaluation only
    retain_train_pairs: scoring.EncodedPairs  # disjoint retain pairs for gradient difference
    decode: object  # piece string -> text
    generation: Generation
    base: ModelEvaluation | None = None  # step 0, shared by all jobs; None: computed in the job
    timings: dict = field(default_factory=lambda: {"generation_s": 0.0, "scoring_s": 0.0, "optimiser_s": 0.0})


def _generator(model, generation: Generation):
    """fairseq's SequenceGenerator, with a search that ends every hypothesis at its own
    sentence's cap. fairseq itself caps a whole batch at int(max_len_a x the longest source
    + max_len_b), so the batching would decide where a hypothesis that never emits EOS
    stops; the same formula applied to each source (pieces incl. EOS, as fairseq counts a
    sentence translated alone) gives each sentence the cap it would get alone."""
    from fairseq.search import BeamSearch
    from fairseq.sequence_generator import SequenceGenerator

    class PerSentenceMaxLen(BeamSearch):
        def __init__(self, tgt_dict):
            super().__init__(tgt_dict)
            self.needs_src_lengths = True  # the generator then passes the unfinished sentences' lengths

        def step(self, step, lprobs, scores, prev_output_tokens=None, original_batch_idxs=None, candidate_multiple=2):
            caps = (generation.max_len_a * self.src_lengths.double() + generation.max_len_b).long()
            ended = caps <= step
            if ended.any():  # force EOS, as fairseq does for the whole batch at its cap
                lprobs = lprobs.clone()
                lprobs[ended, :, : self.eos] = -math.inf
                lprobs[ended, :, self.eos + 1 :] = -math.inf
            return super().step(step, lprobs, scores, prev_output_tokens, original_batch_idxs, candidate_multiple)

    return SequenceGenerator(
        [model.model],
        model.tgt_dict,
        beam_size=generation.beam,
        max_len_a=generation.max_len_a,
        max_len_b=generation.max_len_b,
        search_strategy=PerSentenceMaxLen(model.tgt_dict),
    )


def translate(model, pairs: scoring.EncodedPairs, decode, generation: Generation) -> list[str]:
    """Translate the sources of ``pairs`` with fairseq's SequenceGenerator (greedy when beam=1),
    in batches of at most ``generation.max_tokens`` (its own budget: generation runs fastest
    in larger batches than scoring). Each hypothesis gets at most max_len_a x its source
    length + max_len_b pieces, as if translated alone, so the batching does not change it."""
    generator = _generator(model, generation)
    tgt_dict = model.tgt_dict
    hypotheses = [""] * len(pairs)
    with torch.no_grad():  # not inference_mode: fairseq caches tensors (positions) that later training reuses
        for batch in scoring.pack(
            pairs.src_tokens, pairs.tgt_tokens, tgt_dict.pad(), tgt_dict.eos(), generation.max_tokens
        ):
            batch = batch.to(model.device)
            sample = {"net_input": {"src_tokens": batch.src_tokens, "src_lengths": batch.src_lengths}}
            for i, hypos in zip(batch.indices.tolist(), generator.generate([model.model], sample)):
                hypotheses[i] = decode(tgt_dict.string(hypos[0]["tokens"].int().cpu()))
    return hypotheses


def score_bpt(model, pairs: scoring.EncodedPairs) -> np.ndarray:
    """Bits per token of every pair, in pair order."""
    return metrics.bits_per_token(scoring.score(model, pairs), pairs.target_lengths)


def model_evaluation(
    model, populations: dict, test_pairs, retain_pairs, decode, generation: Generation, timings: dict
) -> ModelEvaluation:
    """Score each population (``kind -> EncodedPairs``), the test set and the retain sample,
    and translate the test set; add the seconds spent to ``timings``."""
    model.model.eval()
    started = time.perf_counter()
    population_bpt = {kind: score_bpt(model, pairs) for kind, pairs in populations.items()}
    test_bpt, retain_bpt = score_bpt(model, test_pairs), score_bpt(model, retain_pairs)
    timings["scoring_s"] += time.perf_counter() - started
    started = time.perf_counter()
    hypotheses = translate(model, test_pairs, decode, generation)
    timings["generation_s"] += time.perf_counter() - started
    return ModelEvaluation(population_bpt, test_bpt, retain_bpt, hypotheses)


def evaluate(model, data: EvalData, step: int, step0: dict | None):
    """Per-example and per-step metrics of the current model (docs/METHOD.md, *Metrics*).

    ``step0`` holds step-0 values (population bits/token, neighbour bits/token) that
    later steps are compared with; it is ``None`` at step 0 and returned filled. At step 0
    the model-only part comes from ``data.base`` when given.
    Returns (per-example table, step metrics, step0, sacrebleu signatures, test translations).
    """
    import sacrebleu

    model.model.eval()
    started = time.perf_counter()
    forget_bits = scoring.score(model, data.forget_pairs)
    neighbour_bpt = score_bpt(model, data.neighbour_pairs)
    data.timings["scoring_s"] += time.perf_counter() - started
    if step0 is None and data.base is not None:
        shared = data.base
    else:
        shared = model_evaluation(
            model,
            {data.kind: data.population},
            data.test_pairs,
            data.retain_pairs,
            data.decode,
            data.generation,
            data.timings,
        )
    pop_bpt = shared.population_bpt[data.kind]

    if step0 is None:
        step0 = {"population_bpt": pop_bpt, "neighbour_bpt": neighbour_bpt, "forget_bits": forget_bits}
    lengths = data.forget["target_len"].to_numpy()
    forget_bpt = metrics.bits_per_token(forget_bits, lengths)
    examples = data.forget[["example_id", "kind", "repetitions", "diff_tercile", "mem_tercile", "target_len"]].assign(
        step=step,
        bits=forget_bits,
        bpt=forget_bpt,
        genex=metrics.generalised_exposure(data.forget["bits_out"].to_numpy(), forget_bits),
        relex=metrics.relative_exposure(lengths, step0["population_bpt"], forget_bits),
        exposure_rank=metrics.rank_exposure(forget_bpt, pop_bpt),
        exposure_skewnorm=metrics.skewnorm_exposure(forget_bpt, metrics.fit_skewnorm(pop_bpt)),
    )
    delta = pd.Series(neighbour_bpt - step0["neighbour_bpt"], index=data.neighbour_ids)
    groups = (
        data.neighbours.assign(delta=delta.loc[data.neighbours["example_id"]].to_numpy())
        .groupby("group")["delta"]
        .mean()
    )
    references = data.test_references
    bleu = sacrebleu.BLEU()
    chrf = sacrebleu.CHRF()
    step_metrics = {
        "bleu": bleu.corpus_score(shared.hypotheses, [references]).score,
        "chrf": chrf.corpus_score(shared.hypotheses, [references]).score,
        "test_bpt": float(np.mean(shared.test_bpt)),
        "retain_bpt": float(np.mean(shared.retain_bpt)),
        "forget_bpt": float(np.mean(forget_bpt)),
        "genex_mean": float(examples["genex"].mean()),
        "relex_mean": float(examples["relex"].mean()),
        "exposure_rank_mean": float(examples["exposure_rank"].mean()),
        "exposure_skewnorm_mean": float(examples["exposure_skewnorm"].mean()),
        "neighbour_trained_delta_bpt": float(groups.get("trained", np.nan)),
        "neighbour_unseen_delta_bpt": float(groups.get("unseen", np.nan)),
    }
    signatures = {"bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}
    return examples, step_metrics, step0, signatures, shared.hypotheses


def batch_cycle(encoded: scoring.EncodedPairs, tgt_dict, batch_size: int, rng: np.random.Generator):
    """Endless stream of padded batches of ``batch_size`` pairs, reshuffled every pass."""
    n = len(encoded)
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size].tolist()
            yield scoring.collate(idx, encoded.src_tokens, encoded.tgt_tokens, tgt_dict.pad(), tgt_dict.eos())


def unlearn(model, data: EvalData, method: Method, settings: Settings):
    """Run ``settings.steps`` steps of ``method``; evaluate at ``settings.eval_steps``.

    Returns a :class:`Run`; its status is "ok" or "diverged: ..." (the tables then hold
    every step evaluated before divergence)."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    params = [p for p in model.model.parameters() if p.requires_grad]
    optimizer_class = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.SGD
    optimizer = optimizer_class(params, lr=settings.lr)
    tgt_dict = model.tgt_dict
    forget_stream = batch_cycle(data.forget_pairs, tgt_dict, settings.batch_size or len(data.forget_pairs), rng)
    retain_stream = (
        batch_cycle(data.retain_train_pairs, tgt_dict, settings.retain_batch_size, rng) if method.needs_retain else None
    )
    forget_tokens = torch.as_tensor(data.forget_pairs.target_lengths + 1, dtype=torch.float32)
    forget_nll0 = None
    eval_steps = sorted(set(settings.eval_steps))
    rows, steps, translations, step0, status, signatures = [], [], [], None, "ok", {}
    last_loss = float("nan")
    for step in range(settings.steps + 1):
        if step in eval_steps:
            examples, step_metrics, step0, signatures, hypotheses = evaluate(model, data, step, step0)
            step_metrics.update(step=step, loss=last_loss)
            rows.append(examples)
            translations.append(
                pd.DataFrame({"step": step, "sentence": range(len(hypotheses)), "hypothesis": hypotheses})
            )
            steps.append(step_metrics)
            log.info("step %d: %s", step, ", ".join(f"{k}={v:.3f}" for k, v in step_metrics.items() if k != "step"))
            if forget_nll0 is None:
                forget_nll0 = torch.as_tensor(step0["forget_bits"] * metrics.LN2, dtype=torch.float32)
        if step == settings.steps:
            break
        started = time.perf_counter()
        model.model.eval()  # dropout off: deterministic gradients
        batch = next(forget_stream)
        loss = method.loss(
            scoring.sequence_nll(model, batch),
            forget_tokens=forget_tokens[batch.indices].to(model.device),
            step0_nll=forget_nll0[batch.indices].to(model.device) if method.needs_step0_nll else None,
            retain_nll=scoring.sequence_nll(model, next(retain_stream)) if method.needs_retain else None,
        )
        if not torch.isfinite(loss):
            status = f"diverged: loss {loss.item()} at step {step + 1}"
            log.error("%s; stopping this forget set (earlier steps are kept)", status)
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.clip_norm)
        optimizer.step()
        last_loss = float(loss.item())
        data.timings["optimiser_s"] += time.perf_counter() - started
    per_step = pd.DataFrame(steps).assign(**signatures)
    return Run(pd.concat(rows, ignore_index=True), per_step, pd.concat(translations, ignore_index=True), status)
