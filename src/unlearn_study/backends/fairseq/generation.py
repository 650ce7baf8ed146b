"""Translation with fairseq's SequenceGenerator, each hypothesis capped by its own source length."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from unlearn_study.backends.fairseq import scoring


@dataclass(frozen=True)
class Generation:
    """How the test set is translated for BLEU and chrF (config ``unlearning.generation``)."""

    beam: int  # 1 = greedy
    max_len_a: float  # a hypothesis ends after max_len_a x its source length (pieces incl. EOS)
    max_len_b: int  # ... + max_len_b pieces
    max_tokens: int  # token budget of one translation batch


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
