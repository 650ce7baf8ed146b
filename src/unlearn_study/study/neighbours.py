"""Nearest neighbours of forget examples by TF-IDF cosine of source + target text.

For each forget example: its k nearest *training* examples of the unlearnt model outside
the forget set (trained on, so unlearning may drag them along) and its k nearest members
of a never-trained population (the kind's ``unseen_neighbours_from``: the ID population
for both kinds). Canaries are compared by their text like any pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from unlearn_study.data import subword
from unlearn_study.study import kinds


def _text(df: pd.DataFrame) -> list[str]:
    return (df["src"] + " ||| " + df["tgt"]).tolist()


def candidates(
    table: pd.DataFrame, retained: pd.DataFrame, sp, half: str, kind: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(examples the models of ``half`` trained on: the retained training pairs and the
    half's candidates; the never-trained population that ``kind``'s neighbours come from,
    see :mod:`.kinds`), with pieces."""
    retained = subword.with_pieces(
        pd.DataFrame({"example_id": retained["pair_id"], "src": retained["src"], "tgt": retained["tgt"]}), sp
    )
    own = table[table["kind"].isin(kinds.KINDS) & (table["half"] == half)]
    trained = pd.concat([retained, own[retained.columns]], ignore_index=True)
    return trained, kinds.population(table, kinds.of(kind).unseen_neighbours_from)


def nearest(forget: pd.DataFrame, training: pd.DataFrame, population: pd.DataFrame, k: int) -> pd.DataFrame:
    """Long table: one row per (forget example, neighbour), with ``group`` trained/unseen."""
    vectorizer = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    vectorizer.fit(_text(training) + _text(population))
    query = vectorizer.transform(_text(forget))
    training = training[~training["example_id"].isin(forget["example_id"])].reset_index(drop=True)
    rows = []
    for group, candidates in (("trained", training), ("unseen", population.reset_index(drop=True))):
        sims = (query @ vectorizer.transform(_text(candidates)).T).toarray()
        # Stable sort on negated similarity: ties resolve by table order (deterministic).
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        for i, forget_id in enumerate(forget["example_id"]):
            for rank, j in enumerate(top[i]):
                neighbour = candidates.iloc[j]
                rows.append(
                    {
                        "forget_id": forget_id,
                        "group": group,
                        "rank": rank + 1,
                        "similarity": float(sims[i, j]),
                        "example_id": neighbour["example_id"],
                        "src": neighbour["src"],
                        "tgt": neighbour["tgt"],
                        "src_pieces": neighbour["src_pieces"],
                        "tgt_pieces": neighbour["tgt_pieces"],
                    }
                )
    return pd.DataFrame(rows)
