"""Forget candidates, reference populations and the candidates' halves (docs/METHOD.md, *Data*, *Models*).

- ``id_candidates`` (C_id): pairs drawn from train; the models of their half train on them.
- ``id_population`` (R_id): pairs drawn from train that no model ever trains on.
- ``canaries`` (C_ood): random subword sequences, each inserted r times into the training
  data of its half's models, ``per_level`` canaries for each repetition level r.
- ``halves``: every candidate (ID candidate or inserted canary) is in half A or B; the
  models of a half train on its candidates, so the other half's models are its out-models.
- ``canary_population`` (R_ood): canaries from the same generator, never inserted.

Canaries are kept as subword pieces (``src_pieces``/``tgt_pieces``) because decoding
and re-encoding a random piece sequence does not give back the same pieces.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from unlearn_study.data.corpus import CorpusError
from unlearn_study.study.kinds import HALVES, ID, OOD


def select_id_sets(train: pd.DataFrame, n_candidates: int, n_population: int, seed: int):
    """Return (candidates, population, retained): disjoint, seeded, order-preserving."""
    if n_candidates + n_population >= len(train):
        raise CorpusError(
            f"train split has {len(train)} pairs, too few for id_sets.n_candidates ({n_candidates}) "
            f"+ id_sets.n_population ({n_population}) with any pairs left to train on"
        )
    order = np.random.default_rng(seed).permutation(len(train))
    cand_idx = np.sort(order[:n_candidates])
    pop_idx = np.sort(order[n_candidates : n_candidates + n_population])
    retained = train.drop(train.index[np.concatenate([cand_idx, pop_idx])])

    def as_set(rows: pd.DataFrame, prefix: str, kind: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "example_id": [f"{prefix}-{i:05d}" for i in range(len(rows))],
                "kind": kind,
                "repetitions": 1,
                "src": rows["src"].to_numpy(),
                "tgt": rows["tgt"].to_numpy(),
                "pair_id": rows["pair_id"].to_numpy(),
            }
        )

    return (
        as_set(train.iloc[cand_idx], ID.name, ID.name),
        as_set(train.iloc[pop_idx], f"{ID.name}pop", ID.population),
        retained.reset_index(drop=True),
    )


def random_piece_sequences(pieces: list[str], n: int, length: int, rng: np.random.Generator) -> list[str]:
    """``n`` sequences of ``length`` pieces drawn uniformly with replacement."""
    draws = rng.integers(0, len(pieces), size=(n, length))
    table = np.asarray(pieces, dtype=object)
    return [" ".join(row) for row in table[draws]]


def make_canaries(
    pieces: list[str], length: int, repetitions: list[int], per_level: int, n_population: int, seed: int, decode
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inserted canaries (``per_level`` per repetition level) and the canary population.

    One generator draws, in order, the inserted canaries level by level and then the
    population, so every canary is an independent uniform draw. ``decode`` turns a
    piece string into text (SentencePiece decoding), kept for reading only.
    """
    rng = np.random.default_rng(seed)
    n_inserted = per_level * len(repetitions)
    n_total = n_inserted + n_population
    src = random_piece_sequences(pieces, n_total, length, rng)
    tgt = random_piece_sequences(pieces, n_total, length, rng)
    reps = np.repeat(repetitions, per_level)

    def table(sl: slice, prefix: str, kind: str, rep) -> pd.DataFrame:
        s, t = src[sl], tgt[sl]
        return pd.DataFrame(
            {
                "example_id": [f"{prefix}-{i:05d}" for i in range(len(s))],
                "kind": kind,
                "repetitions": rep,
                "src": [decode(x) for x in s],
                "tgt": [decode(x) for x in t],
                "src_pieces": s,
                "tgt_pieces": t,
            }
        )

    canaries = table(slice(0, n_inserted), OOD.name, OOD.name, reps)
    population = table(slice(n_inserted, n_total), f"{OOD.name}pop", OOD.population, 0)
    return canaries, population


def split_halves(candidates: pd.DataFrame, canaries: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Assign every candidate to half A or B: seeded, stratified by kind and, for canaries,
    by repetition level (each stratum split evenly; an odd one out goes to A or B at
    random). Returns example_id, kind, repetitions, half."""
    rng = np.random.default_rng(seed)
    both = pd.concat([candidates, canaries], ignore_index=True)[["example_id", "kind", "repetitions"]]
    half = np.empty(len(both), dtype=object)
    for _, rows in both.groupby(["kind", "repetitions"], sort=True):
        labels = np.array([HALVES[i % 2] for i in range(len(rows))], dtype=object)
        if len(rows) % 2:
            labels[-1] = HALVES[rng.integers(2)]
        half[rows.index.to_numpy()[rng.permutation(len(rows))]] = labels
    return both.assign(half=half)
