"""Forget candidates, reference populations and the candidates' halves (docs/METHOD.md, *Data*, *Models*).

- ``id_candidates`` (C_id): pairs drawn from train, ``per_level`` for each repetition level
  r; each is inserted r times into the training data of its half's models.
- ``id_population`` (R_id): pairs drawn from train that no model ever trains on.
- ``canaries`` (C_ood): secrets after a fixed prompt (or random subword sequences), each
  inserted r times into the training data of its half's models, ``per_level`` canaries
  for each repetition level r.
- ``halves``: every candidate (ID candidate or inserted canary) is in half A or B; the
  models of a half train on its candidates, so the other half's models are its out-models.
- ``canary_population`` (R_ood): canaries from the same generator, never inserted.

Canaries are kept with their subword pieces (``src_pieces``/``tgt_pieces``): random piece
sequences do not survive decoding and re-encoding, and secrets are checked to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from unlearn_study.data import subword
from unlearn_study.data.corpus import CorpusError
from unlearn_study.study.kinds import HALVES, ID, OOD


def select_id_sets(train: pd.DataFrame, per_level: int, repetitions: list[int], n_population: int, seed: int):
    """Return (candidates, population, retained): disjoint, seeded, order-preserving.

    ``per_level`` candidates for each repetition level r (each to be inserted r times into
    its half's training data), assigned to the levels at random."""
    n_candidates = per_level * len(repetitions)
    if n_candidates + n_population >= len(train):
        raise CorpusError(
            f"train split has {len(train)} pairs, too few for id_sets.per_level x levels ({n_candidates}) "
            f"+ id_sets.n_population ({n_population}) with any pairs left to train on"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    cand_idx = np.sort(order[:n_candidates])
    pop_idx = np.sort(order[n_candidates : n_candidates + n_population])
    retained = train.drop(train.index[np.concatenate([cand_idx, pop_idx])])
    levels = rng.permutation(np.repeat(np.asarray(repetitions, dtype=np.int64), per_level))

    def as_set(rows: pd.DataFrame, prefix: str, kind: str, reps) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "example_id": [f"{prefix}-{i:05d}" for i in range(len(rows))],
                "kind": kind,
                "repetitions": reps,
                "src": rows["src"].to_numpy(),
                "tgt": rows["tgt"].to_numpy(),
                "pair_id": rows["pair_id"].to_numpy(),
            }
        )

    return (
        as_set(train.iloc[cand_idx], ID.name, ID.name, levels),
        as_set(train.iloc[pop_idx], f"{ID.name}pop", ID.population, 0),
        retained.reset_index(drop=True),
    )


def random_piece_sequences(pieces: list[str], n: int, length: int, rng: np.random.Generator) -> list[str]:
    """``n`` sequences of ``length`` pieces drawn uniformly with replacement."""
    draws = rng.integers(0, len(pieces), size=(n, length))
    table = np.asarray(pieces, dtype=object)
    return [" ".join(row) for row in table[draws]]


def random_secrets(alphabet: str, n: int, length: int, rng: np.random.Generator) -> list[str]:
    """``n`` secrets of ``length`` characters drawn uniformly with replacement from ``alphabet``."""
    draws = rng.integers(0, len(alphabet), size=(n, length))
    table = np.asarray(list(alphabet), dtype=object)
    return ["".join(row) for row in table[draws]]


def make_canaries(
    format: str,
    length: int,
    repetitions: list[int],
    per_level: int,
    n_population: int,
    seed: int,
    sp,
    prompt: str = "",
    alphabet: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inserted canaries (``per_level`` per repetition level) and the canary population.

    ``format`` "secret" (the secret sharer's, as in the authors' experiment): the source is
    the fixed ``prompt`` and the target a secret of ``length`` characters drawn uniformly
    from ``alphabet``; every secret must come back exactly from the subword model
    (:func:`unlearn_study.data.subword.check_round_trip`). ``format`` "pieces": source and
    target are ``length`` subword pieces drawn uniformly from the vocabulary, kept as
    pieces (decoding and re-encoding a random piece sequence does not give it back).
    One generator draws, in order, the inserted canaries level by level and then the
    population, so every canary is an independent uniform draw.
    """
    rng = np.random.default_rng(seed)
    n_inserted = per_level * len(repetitions)
    n_total = n_inserted + n_population
    if format == "secret":
        tgt_text = random_secrets(alphabet, n_total, length, rng)
        subword.check_round_trip(sp, [prompt, *tgt_text], what="canary")
        src_text = [prompt] * n_total
        src = subword.encode(sp, src_text[:1]) * n_total
        tgt = subword.encode(sp, tgt_text)
    else:
        pieces = subword.vocabulary_pieces(sp)
        src = random_piece_sequences(pieces, n_total, length, rng)
        tgt = random_piece_sequences(pieces, n_total, length, rng)
        src_text = [subword.decode(sp, x) for x in src]
        tgt_text = [subword.decode(sp, x) for x in tgt]
    reps = np.repeat(repetitions, per_level)

    def table(sl: slice, prefix: str, kind: str, rep) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "example_id": [f"{prefix}-{i:05d}" for i in range(sl.stop - sl.start)],
                "kind": kind,
                "repetitions": rep,
                "src": src_text[sl],
                "tgt": tgt_text[sl],
                "src_pieces": src[sl],
                "tgt_pieces": tgt[sl],
            }
        )

    canaries = table(slice(0, n_inserted), OOD.name, OOD.name, reps)
    population = table(slice(n_inserted, n_total), f"{OOD.name}pop", OOD.population, 0)
    return canaries, population


def split_halves(candidates: pd.DataFrame, canaries: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Assign every candidate to half A or B: seeded, stratified by kind and repetition
    level (each stratum split evenly; an odd one out goes to A or B at random). Returns
    example_id, kind, repetitions, half."""
    rng = np.random.default_rng(seed)
    both = pd.concat([candidates, canaries], ignore_index=True)[["example_id", "kind", "repetitions"]]
    half = np.empty(len(both), dtype=object)
    for _, rows in both.groupby(["kind", "repetitions"], sort=True):
        labels = np.array([HALVES[i % 2] for i in range(len(rows))], dtype=object)
        if len(rows) % 2:
            labels[-1] = HALVES[rng.integers(2)]
        half[rows.index.to_numpy()[rng.permutation(len(rows))]] = labels
    return both.assign(half=half)
