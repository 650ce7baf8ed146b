"""Forget sets: n_f examples of one kind from one bucket (METHOD.md, Forget sets).

A forget set's name says what it holds: ``{kind}-{grouping}-{bucket}``, e.g.
``id-difficulty-hard``, ``ood-memorisation-low``, ``ood-repetition-16``.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import numpy as np
import pandas as pd

from .examples import DIFFICULTY_LABELS, MEMORISATION_LABELS

GROUPING_COLUMN = {"difficulty": "diff_tercile", "memorisation": "mem_tercile", "repetition": "repetitions"}


def forget_set_names(config: dict) -> list[str]:
    """Every forget set the config asks for (known before any job runs)."""
    names = []
    for kind in config["forget_sets"]["kinds"]:
        for grouping in config["forget_sets"]["groupings"]:
            if grouping == "difficulty":
                buckets = DIFFICULTY_LABELS
            elif grouping == "memorisation":
                buckets = MEMORISATION_LABELS
            elif kind == "ood":
                buckets = config["canaries"]["repetitions"]
            else:
                continue  # ID examples have no repetition levels
            names += [f"{kind}-{grouping}-{bucket}" for bucket in buckets]
    return names


class ForgetSetName(NamedTuple):
    kind: str
    grouping: str
    bucket: str


def parse(name: str) -> ForgetSetName:
    """The parts of a forget set's name (the one place that knows its format)."""
    kind, grouping, bucket = name.split("-", 2)
    return ForgetSetName(kind, grouping, bucket)


def bucket_members(table: pd.DataFrame, name: str) -> pd.DataFrame:
    described = parse(name)
    rows = table[table["kind"] == described.kind]
    value = int(described.bucket) if described.grouping == "repetition" else described.bucket
    return rows[rows[GROUPING_COLUMN[described.grouping]] == value]


def select(table: pd.DataFrame, name: str, size: int, seed: int) -> pd.DataFrame:
    """A seeded sample of ``size`` examples from the bucket ``name`` describes.

    Each set has its own random stream (seed and name), so adding or removing a
    grouping leaves the other sets unchanged.
    """
    members = bucket_members(table, name)
    if len(members) < size:
        raise ValueError(
            f"forget set {name}: its bucket has {len(members)} examples, fewer than forget_sets.size ({size})"
        )
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    chosen = members.iloc[np.sort(rng.choice(len(members), size=size, replace=False))]
    return chosen.assign(forget_set=name).reset_index(drop=True)
