"""Batched teacher-forced scoring of fairseq translation checkpoints.

For a pair (x, y) whose target has pieces y_1..y_n, fairseq appends EOS, so the scored
sequence is y_1..y_n, EOS (n + 1 tokens) and

    bits(x, y) = -sum_{t=1}^{n+1} log2 p(y_t | y_<t, x)      (bits per sequence)
    bits_per_token = bits / (n + 1)

Conventions follow fairseq's ``LanguagePairDataset`` collater: lines are space-separated
SentencePiece pieces (exactly what ``fairseq-preprocess`` binarized) encoded with
``Dictionary.encode_line(..., append_eos=True)``; sources are left-padded, targets and
``prev_output_tokens`` (EOS followed by the target without its final EOS) right-padded.
``bits / (n + 1)`` equals minus the ``H-`` score that
``fairseq-generate --score-reference`` prints (average log2 probability per token, EOS
included).

Design: ``sequence_nll`` (nats, differentiable) is the one core function;
``sequence_bits`` divides it by ln 2. ``score`` wraps ``sequence_bits`` in
``torch.no_grad`` and restores the original pair order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from unlearn_study.metrics.core import LN2

logger = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A fairseq translation model in eval mode plus what is needed to feed it."""

    model: torch.nn.Module
    src_dict: object  # fairseq.data.Dictionary
    tgt_dict: object  # fairseq.data.Dictionary
    task: object  # fairseq TranslationTask (kept for generation later)
    cfg: object  # omegaconf config stored in the checkpoint
    device: torch.device

    def computed_on(self) -> dict:
        """Where and in what precision this model computes: recorded beside every result
        (bit-identity holds on one device only; the summary refuses to mix devices)."""
        name = "cpu" if self.device.type == "cpu" else f"{self.device.type}: {torch.cuda.get_device_name(self.device)}"
        return {"device": name, "dtype": str(next(self.model.parameters()).dtype).removeprefix("torch.")}


def load_model(checkpoint_path, data_dir, device="cpu") -> LoadedModel:
    """Load one fairseq checkpoint; ``data_dir`` is the binarized dir holding the dicts."""
    from fairseq import checkpoint_utils

    import unlearn_study.backends.fairseq.plugin  # noqa: F401  (allow-lists argparse.Namespace)

    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
        [str(checkpoint_path)], arg_overrides={"data": str(data_dir)}
    )
    device = torch.device(device)
    model = models[0].to(device)
    model.eval()
    return LoadedModel(
        model=model,
        src_dict=task.source_dictionary,
        tgt_dict=task.target_dictionary,
        task=task,
        cfg=cfg,
        device=device,
    )


@dataclass
class Batch:
    """One padded batch, in fairseq's layout. ``indices`` are positions in the pair list."""

    indices: torch.Tensor  # (B,) long
    src_tokens: torch.Tensor  # (B, S) long, left-padded
    src_lengths: torch.Tensor  # (B,) long, incl. EOS
    prev_output_tokens: torch.Tensor  # (B, T) long, right-padded, starts with EOS
    target: torch.Tensor  # (B, T) long, right-padded, ends with EOS
    target_mask: torch.Tensor  # (B, T) bool, True on the n+1 real target positions

    def to(self, device) -> Batch:
        return Batch(
            indices=self.indices,
            src_tokens=self.src_tokens.to(device),
            src_lengths=self.src_lengths.to(device),
            prev_output_tokens=self.prev_output_tokens.to(device),
            target=self.target.to(device),
            target_mask=self.target_mask.to(device),
        )

    def __len__(self) -> int:
        return int(self.indices.numel())


@dataclass
class EncodedPairs:
    """Encoded pairs plus batches precomputed once (re-score many times, no re-encoding)."""

    src_tokens: list  # list of 1-D long tensors, each ending with EOS
    tgt_tokens: list  # list of 1-D long tensors, each ending with EOS
    target_lengths: np.ndarray  # (N,) int64, pieces without EOS (= n)
    batches: list  # list[Batch]

    def __len__(self) -> int:
        return len(self.src_tokens)


def _encode(dictionary, lines: Sequence[str], side: str) -> list:
    """Each line as fairseq's ``dictionary.encode_line(line, add_if_not_exist=False)`` encodes it
    (whitespace-split pieces, unknown ones as <unk>, EOS appended), as int64 tensors. The same
    lookup without encode_line's per-token tensor writes, which cost 0.9 s per 5,000 pairs."""
    from fairseq.tokenizer import tokenize_line

    indices, unk, eos = dictionary.indices, dictionary.unk(), dictionary.eos()
    n_unk = 0
    out = []
    for line in lines:
        ids = [indices.get(piece, unk) for piece in tokenize_line(line)]
        n_unk += ids.count(unk)
        ids.append(eos)
        out.append(torch.tensor(ids, dtype=torch.long))
    if n_unk:
        logger.warning("%d %s pieces mapped to <unk> (dictionary mismatch?)", n_unk, side)
    return out


def collate(indices, src, tgt, pad: int, eos: int) -> Batch:
    bsz = len(indices)
    src_len = torch.tensor([src[i].numel() for i in indices], dtype=torch.long)
    tgt_len = torch.tensor([tgt[i].numel() for i in indices], dtype=torch.long)
    S, T = int(src_len.max()), int(tgt_len.max())
    src_tokens = torch.full((bsz, S), pad, dtype=torch.long)
    target = torch.full((bsz, T), pad, dtype=torch.long)
    prev = torch.full((bsz, T), pad, dtype=torch.long)
    for b, i in enumerate(indices):
        s, t = src[i], tgt[i]
        src_tokens[b, S - s.numel() :] = s  # left pad
        target[b, : t.numel()] = t  # right pad
        prev[b, 0] = eos  # EOS + target without its final EOS
        prev[b, 1 : t.numel()] = t[:-1]
    mask = torch.arange(T).unsqueeze(0) < tgt_len.unsqueeze(1)
    return Batch(
        indices=torch.tensor(indices, dtype=torch.long),
        src_tokens=src_tokens,
        src_lengths=src_len,
        prev_output_tokens=prev,
        target=target,
        target_mask=mask,
    )


def pack(src: list, tgt: list, pad: int, eos: int, max_tokens: int) -> list:
    """Padded batches of the pairs ``src[i], tgt[i]`` (1-D token tensors ending with EOS).

    Pairs are sorted by (target length, source length) like fairseq, and packed so that
    ``max(len) * batch_size <= max_tokens`` with ``len = max(src, tgt)`` incl. EOS; a
    single pair longer than ``max_tokens`` gets a batch of its own.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    sizes = [max(s.numel(), t.numel()) for s, t in zip(src, tgt)]
    order = sorted(range(len(src)), key=lambda i: (tgt[i].numel(), src[i].numel(), i))
    batches, cur, cur_max = [], [], 0
    for i in order:
        new_max = max(cur_max, sizes[i])
        if cur and new_max * (len(cur) + 1) > max_tokens:
            batches.append(collate(cur, src, tgt, pad, eos))
            cur, new_max = [], sizes[i]
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(collate(cur, src, tgt, pad, eos))
    return batches


def encode_pairs(
    src_dict, tgt_dict, src_lines: Sequence[str], tgt_lines: Sequence[str], max_tokens: int = 2000
) -> EncodedPairs:
    """Encode parallel lines of pieces and precompute padded batches (see ``pack``).

    Small batches score fastest on CPU: ``bench/batch_size.py`` measures it (BENCHMARKS.md).
    """
    src_lines, tgt_lines = list(src_lines), list(tgt_lines)
    if len(src_lines) != len(tgt_lines):
        raise ValueError(f"{len(src_lines)} source lines vs {len(tgt_lines)} target lines")
    src = _encode(src_dict, src_lines, "source")
    tgt = _encode(tgt_dict, tgt_lines, "target")
    pad, eos = tgt_dict.pad(), tgt_dict.eos()
    if src_dict.pad() != pad:
        raise ValueError("source and target dictionaries use different pad indices")
    return EncodedPairs(
        src_tokens=src,
        tgt_tokens=tgt,
        target_lengths=np.array([t.numel() - 1 for t in tgt], dtype=np.int64),
        batches=pack(src, tgt, pad, eos, max_tokens),
    )


def _module(model) -> torch.nn.Module:
    return model.model if isinstance(model, LoadedModel) else model


def sequence_nll(model, batch: Batch) -> torch.Tensor:
    """Negative log-likelihood in nats per sequence, shape (B,). Differentiable.

    ``model`` is a fairseq model or a ``LoadedModel``; the caller sets train/eval mode
    (``load_model`` returns it in eval mode, i.e. dropout off).
    """
    m = _module(model)
    device = next(m.parameters()).device
    batch = batch.to(device)
    net_output = m(
        src_tokens=batch.src_tokens,
        src_lengths=batch.src_lengths,
        prev_output_tokens=batch.prev_output_tokens,
    )
    lprobs = m.get_normalized_probs(net_output, log_probs=True)  # (B, T, V), float32
    tok = lprobs.gather(-1, batch.target.unsqueeze(-1)).squeeze(-1)
    return -(tok * batch.target_mask).sum(dim=1)


def sequence_bits(model, batch: Batch) -> torch.Tensor:
    """Bits per sequence, shape (B,): ``sequence_nll / ln 2``. Differentiable."""
    return sequence_nll(model, batch) / LN2


def score(model, encoded: EncodedPairs, log_every_s: float = 10.0) -> np.ndarray:
    """Bits per sequence (float64) for every pair, in the original pair order.

    Runs under ``torch.no_grad`` in eval mode (the previous mode is restored); progress is
    logged at INFO level at most every ``log_every_s`` seconds (nothing for short runs).
    """
    m = _module(model)
    was_training = m.training
    m.eval()
    total = len(encoded)
    out = np.full(total, np.nan, dtype=np.float64)
    done, start = 0, time.monotonic()
    last_log = start
    with torch.no_grad():  # not inference_mode: fairseq caches tensors (positions) that later training reuses
        for batch in encoded.batches:
            bits = sequence_bits(m, batch)
            out[batch.indices.numpy()] = bits.double().cpu().numpy()
            done += len(batch)
            now = time.monotonic()
            if now - last_log >= log_every_s:
                logger.info("scored %d/%d pairs (%.0f s)", done, total, now - start)
                last_log = now
    m.train(was_training)
    return out
