"""The candidate kinds and the groupings of their buckets: the one place that names them.

A *kind* is a family of forget candidates with its own never-trained *population*, the
reference its exposure and its calibrated test are measured against. Every module that
treats kinds differently reads it here (names, populations, config blocks, groupings,
labels, colours); a new kind is one more entry in :data:`KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass

HALVES = ("A", "B")  # every candidate is in one; its models are the in-models, the other's the out-models
TEST = "test"  # the ``kind`` of the test-set sample in the scoring pool (not a candidate kind)


@dataclass(frozen=True)
class Grouping:
    """A way of bucketing a kind's candidates: by an example-table column."""

    name: str
    column: str  # example-table column holding each candidate's bucket
    labels: tuple[str, ...] | None  # bucket labels in their natural order; None: the kind's repetition levels


DIFFICULTY = Grouping("difficulty", "diff_tercile", ("easy", "medium", "hard"))
MEMORISATION = Grouping("memorisation", "mem_tercile", ("low", "medium", "high"))
REPETITION = Grouping("repetition", "repetitions", None)
GROUPINGS = {g.name: g for g in (DIFFICULTY, MEMORISATION, REPETITION)}


@dataclass(frozen=True)
class Kind:
    name: str  # the example table's ``kind`` of its candidates, the first part of a forget set's name
    population: str  # the ``kind`` of its never-trained population R
    label: str  # short, for tables and figures
    description: str
    colour: str  # matplotlib colour of its curves and points
    config_block: str  # the config block that sizes its candidates and population
    groupings: tuple[str, ...]  # the groupings its forget sets can be bucketed by
    unseen_neighbours_from: str  # the kind whose population supplies never-trained neighbours

    def levels(self, config: dict) -> list[int]:
        """The repetition levels (insertions into its half's training data) of its candidates."""
        return list(config[self.config_block]["repetitions"])

    def n_candidates(self, config: dict) -> int:
        return config[self.config_block]["per_level"] * len(self.levels(config))

    def bucket_labels(self, grouping: str, config: dict) -> list[str]:
        labels = GROUPINGS[grouping].labels
        return list(labels) if labels is not None else [str(level) for level in self.levels(config)]


ID = Kind(
    name="id",
    population="id_population",
    label="ID",
    description="in-distribution training pairs",
    colour="tab:blue",
    config_block="id_sets",
    groupings=("difficulty", "memorisation", "repetition"),
    unseen_neighbours_from="id",
)
OOD = Kind(
    name="ood",
    population="ood_population",
    label="OOD",
    description="canaries",
    colour="tab:orange",
    config_block="canaries",
    groupings=("difficulty", "memorisation", "repetition"),
    unseen_neighbours_from="id",
)
KINDS = {kind.name: kind for kind in (ID, OOD)}
POPULATIONS = {kind.population: kind for kind in KINDS.values()}


def of(name: str) -> Kind:
    """The kind named ``name`` (a candidate kind, e.g. a forget set's)."""
    if name not in KINDS:
        raise ValueError(f"unknown candidate kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def population(table, kind: str):
    """The rows of ``table`` (any table with a ``kind`` column) that form kind ``kind``'s population."""
    return table[table["kind"] == of(kind).population]
