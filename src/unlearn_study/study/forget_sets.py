"""Forget sets: n_f examples of one kind from one bucket, all from one half
(docs/METHOD.md, *Forget sets*).

A forget set's name says what it holds: ``{kind}-{grouping}-{bucket}-r{replicate}``, e.g.
``id-difficulty-hard-r1``, ``ood-memorisation-low-r2``, ``ood-repetition-16-r1``.
Replicates alternate between the halves (r1: A, r2: B, r3: A, ...) and are disjoint:
replicate r takes the ((r - 1) // 2)-th block of ``size`` examples of a seeded order of
its half's bucket members, so adding replicates leaves the existing ones unchanged.
"""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

import numpy as np
import pandas as pd

from unlearn_study.study import kinds
from unlearn_study.study.kinds import HALVES

NAME = re.compile(r"^(?P<kind>[a-z]+)-(?P<grouping>[a-z]+)-(?P<bucket>[a-z0-9]+)-r(?P<replicate>\d+)$")


class ForgetSetName(NamedTuple):
    kind: str
    grouping: str
    bucket: str
    replicate: int

    @property
    def half(self) -> str:
        """The half whose models trained on this set (replicates alternate A, B, A, ...)."""
        return HALVES[(self.replicate - 1) % 2]

    @property
    def bucket_name(self) -> str:
        """The set's name without its replicate: what replicates of one bucket share."""
        return f"{self.kind}-{self.grouping}-{self.bucket}"


def unit_labels(forget_set: str, method: str, batch: str, seed) -> dict:
    """What identifies an unlearning unit and describes its forget set: the labels its
    jobs (unlearn, audit) put on their tables and MLflow runs."""
    described = parse(forget_set)
    return {
        "forget_set": forget_set,
        "method": method,
        "batch": batch,
        "seed": int(seed),
        "kind": described.kind,
        "grouping": described.grouping,
        "bucket": described.bucket,
        "replicate": described.replicate,
        "half": described.half,
    }


def parse(name: str) -> ForgetSetName:
    """The parts of a forget set's name (the one place that knows its format)."""
    match = NAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a forget set name ({{kind}}-{{grouping}}-{{bucket}}-r{{replicate}})")
    return ForgetSetName(match["kind"], match["grouping"], match["bucket"], int(match["replicate"]))


def buckets(config: dict) -> list[tuple[str, str, str]]:
    """(kind, grouping, bucket) of every bucket the config asks for (a grouping applies to
    the kinds that have it, see :mod:`.kinds`)."""
    found = []
    for name in config["forget_sets"]["kinds"]:
        kind = kinds.of(name)
        for grouping in config["forget_sets"]["groupings"]:
            if grouping in kind.groupings:
                found += [(name, grouping, label) for label in kind.bucket_labels(grouping, config)]
    return found


def forget_set_names(config: dict) -> list[str]:
    """Every forget set the config asks for (known before any job runs)."""
    replicates = range(1, config["forget_sets"]["replicates"] + 1)
    return [f"{kind}-{grouping}-{bucket}-r{r}" for kind, grouping, bucket in buckets(config) for r in replicates]


def bucket_members(table: pd.DataFrame, described: ForgetSetName) -> pd.DataFrame:
    """The candidates of the set's kind, bucket and half, in table order."""
    rows = table[(table["kind"] == described.kind) & (table["half"] == described.half)]
    column = kinds.GROUPINGS[described.grouping].column
    return rows[rows[column].astype(str) == described.bucket]


def select(table: pd.DataFrame, name: str, size: int, seed: int) -> pd.DataFrame:
    """The forget set ``name``: its block of a seeded order of its half's bucket members.

    Each bucket and half has its own random stream (seed and bucket name), so adding or
    removing a grouping or replicates leaves the other sets unchanged.
    """
    described = parse(name)
    members = bucket_members(table, described)
    block = (described.replicate - 1) // 2
    if len(members) < (block + 1) * size:
        raise ValueError(
            f"forget set {name}: bucket {described.bucket_name} has {len(members)} examples in half "
            f"{described.half}, fewer than the {(block + 1) * size} that its replicates up to r{described.replicate} "
            f"take (forget_sets.size {size}); lower forget_sets.replicates or forget_sets.size, or add candidates "
            "(id_sets.per_level, canaries.per_level)"
        )
    rng = np.random.default_rng([seed, zlib.crc32(f"{described.bucket_name}-{described.half}".encode())])
    order = rng.permutation(len(members))[block * size : (block + 1) * size]
    chosen = members.iloc[np.sort(order)]
    return chosen.assign(forget_set=name).reset_index(drop=True)
