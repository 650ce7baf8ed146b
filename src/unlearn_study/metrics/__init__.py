"""Per-step metrics: one module each in this package, found automatically.

A metric is a subclass of :class:`Metric`, registered with :func:`register`. It declares
its ``name``; what it is computed on (``per = "example"``: one value per forget example,
averaged over the set in the step table; ``per = "step"``: one value per evaluated
model); its ``unit``, ``bounds`` and ``digits``; which direction is ``worse`` (more
memorised, or less useful); and ``compute(scores)`` on the :class:`StepScores` of one
evaluation. The evaluation, the per-example and per-step tables, MLflow logging, the
summary's metric table and the metric-curves figure iterate over :data:`REGISTRY`, so a
new metric is one module here plus its test (README, *Add a metric*). Formulas shared by
several metrics and stages live in :mod:`.core`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

REGISTRY: dict[str, Metric] = {}


@dataclass(frozen=True)
class StepScores:
    """What one evaluation of the model θ_t measured, for the metrics to compute from."""

    step: int
    forget: pd.DataFrame  # the forget set's rows of the example table (bits_out, target_len, ...)
    forget_bits: np.ndarray  # bits per sequence of each forget example under θ_t
    forget_hypotheses: list[str]  # greedy translation of each forget example's source by θ_t
    population_bpt: np.ndarray  # bits/token of each member of the forget set kind's population under θ_t
    population_bpt0: np.ndarray  # ... under θ_0, the model before unlearning
    neighbours: pd.DataFrame  # forget_id, group (trained / unseen), example_id
    neighbour_delta_bpt: pd.Series  # per neighbour example id: bits/token under θ_t minus under θ_0
    test_bpt: np.ndarray  # bits/token of each test pair
    retain_bpt: np.ndarray  # bits/token of each pair of the retain sample
    hypotheses: list[str]  # test translations by θ_t
    references: list[str]  # test targets

    @property
    def forget_bpt(self) -> np.ndarray:
        from unlearn_study.metrics.core import bits_per_token

        return bits_per_token(self.forget_bits, self.forget["target_len"].to_numpy())


class Metric:
    """Base class; subclasses set the class attributes and ``compute``."""

    name: ClassVar[str]  # column of the per-example table (per "example") or of the step table (per "step")
    label: ClassVar[str]  # what figures and tables call it
    unit: ClassVar[str]
    per: ClassVar[str]  # "example" | "step"
    worse: ClassVar[str]  # "higher" | "lower"
    bounds: ClassVar[tuple[float | None, float | None]] = (None, None)  # its range (None: unbounded)
    digits: ClassVar[int] = 2
    step_column: ClassVar[str | None] = None  # step-table column if not the default (see ``column``)

    @property
    def column(self) -> str:
        """Its step-table column: the name of a per-step metric, ``<name>_mean`` (the forget
        set's mean) of a per-example one."""
        return self.step_column or (self.name if self.per == "step" else f"{self.name}_mean")

    def compute(self, scores: StepScores):
        """Per-example metrics: one float per forget example (in ``scores.forget`` order);
        per-step metrics: one float."""
        raise NotImplementedError

    def clip(self, values):
        """``values`` limited to the metric's range (for intervals of its means)."""
        low, high = self.bounds
        return np.clip(values, -np.inf if low is None else low, np.inf if high is None else high)


def register(cls: type[Metric]) -> type[Metric]:
    if cls.name in REGISTRY:
        raise ValueError(f"two metrics are named {cls.name!r}")
    if cls.per not in ("example", "step") or cls.worse not in ("higher", "lower"):
        raise ValueError(f"metric {cls.name!r}: per must be 'example' or 'step', worse 'higher' or 'lower'")
    REGISTRY[cls.name] = cls()
    return cls


def per_example() -> list[Metric]:
    return [m for m in REGISTRY.values() if m.per == "example"]


def per_step() -> list[Metric]:
    return [m for m in REGISTRY.values() if m.per == "step"]


def by_column(column: str) -> Metric | None:
    """The metric whose step-table column is ``column`` (None for other columns)."""
    return next((m for m in REGISTRY.values() if m.column == column), None)


def modules() -> list[str]:
    """The modules that define the registered metrics: loaded by the registry rather than
    imported, so the rules that compute or read metrics add them to their code hash."""
    return sorted({type(m).__module__ for m in REGISTRY.values()})


def evaluate(scores: StepScores) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """(per-example values by metric name, step-table values by column) of every metric."""
    examples = {m.name: np.asarray(m.compute(scores), dtype=np.float64) for m in per_example()}
    steps = {m.column: float(np.mean(examples[m.name])) for m in per_example()}
    steps.update({m.column: float(m.compute(scores)) for m in per_step()})
    return examples, steps


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if _info.name != "core":
        importlib.import_module(f"{__name__}.{_info.name}")
