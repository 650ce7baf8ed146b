"""Gradient-based unlearning of one forget set, evaluated at scheduled steps.

Each step takes a batch of the forget set F and minimises the loss of an unlearning
method (``unlearn_study.methods``). Gradients are clipped to ``clip_norm``. Dropout is
off (eval mode), so on the CPU a run is bit-for-bit repeatable. At every scheduled step
(0 included) the model is evaluated without writing a checkpoint
(:func:`unlearn_study.study.evaluation.evaluate`). Definitions: docs/METHOD.md, *Unlearning*.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from unlearn_study.backends.fairseq import scoring
from unlearn_study.methods import Method
from unlearn_study.metrics import core
from unlearn_study.metrics.translation import corpus_scores
from unlearn_study.study.evaluation import EvalData, evaluate, trace

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What one unlearning run measured at its full evaluations (per example and step, per
    step, the test translations: step, sentence, hypothesis), the tests of its forget set
    at every step (``trace``), the population members scored (``population``: the
    evaluation sample at full evaluations, the damage sample at every step), its status."""

    examples: pd.DataFrame
    steps: pd.DataFrame
    translations: pd.DataFrame
    status: str
    trace: pd.DataFrame | None = None
    population: pd.DataFrame | None = None


@dataclass(frozen=True)
class Settings:
    """The optimisation (config ``unlearning``): how many steps, which batches, which optimiser."""

    optimizer: str  # adam | sgd | adafactor
    lr: float
    steps: int
    eval_steps: tuple  # evaluated steps, 0 included
    batch_size: int | None  # forget examples per step; None = the whole forget set
    retain_batch_size: int | None  # retained pairs per step, for methods that descend on them (else None)
    clip_norm: float
    seed: int


class Diverged(RuntimeError):
    """The loss is not finite; the model is left as it was before the step."""


def batch_cycle(encoded: scoring.EncodedPairs, tgt_dict, batch_size: int, rng: np.random.Generator):
    """Endless stream of padded batches of ``batch_size`` pairs, reshuffled every pass."""
    n = len(encoded)
    while True:
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size].tolist()
            yield scoring.collate(idx, encoded.src_tokens, encoded.tgt_tokens, tgt_dict.pad(), tgt_dict.eos())


class Optimisation:
    """The optimiser and batch streams of one unlearning run; :meth:`step` takes one step."""

    OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adafactor": torch.optim.Adafactor}

    def __init__(self, model, data: EvalData, method: Method, settings: Settings):
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        self.model, self.method, self.clip_norm = model, method, settings.clip_norm
        self.params = [p for p in model.model.parameters() if p.requires_grad]
        self.optimizer = self.OPTIMIZERS[settings.optimizer](self.params, lr=settings.lr)
        tgt_dict = model.tgt_dict
        forget = data.forget_pairs
        self.forget_stream = batch_cycle(forget, tgt_dict, settings.batch_size or len(forget), rng)
        self.retain_stream = (
            batch_cycle(data.retain_train_pairs, tgt_dict, settings.retain_batch_size, rng)
            if method.needs_retain
            else None
        )
        self.forget_tokens = torch.as_tensor(forget.target_lengths + 1, dtype=torch.float32)
        self.forget_nll0 = None  # the forget set's NLL (nats) before unlearning, for methods that need it

    def step(self) -> float:
        """One optimiser step on the next forget batch; returns its loss (raises Diverged)."""
        model, method = self.model, self.method
        model.model.eval()  # dropout off: deterministic gradients
        batch = next(self.forget_stream)
        loss = method.loss(
            scoring.sequence_nll(model, batch),
            forget_tokens=self.forget_tokens[batch.indices].to(model.device),
            step0_nll=self.forget_nll0[batch.indices].to(model.device) if method.needs_step0_nll else None,
            retain_nll=scoring.sequence_nll(model, next(self.retain_stream)) if method.needs_retain else None,
        )
        if not torch.isfinite(loss):
            raise Diverged(f"loss {loss.item()}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        self.optimizer.step()
        return float(loss.item())


SCHEDULED = "schedule"  # the trigger of a full evaluation on unlearning.eval_steps


def unlearn(model, data: EvalData, method: Method, settings: Settings) -> Run:
    """Run ``settings.steps`` steps of ``method``. At every step the forget set's tests are
    traced (when ``data.tests`` is given); the full evaluation (every metric) runs at
    ``settings.eval_steps`` and at the first step each rule counts the set as unlearnt.

    Returns a :class:`Run`; its status is "ok" or "diverged: ..." (the tables then hold
    every step evaluated before divergence)."""
    optimisation = Optimisation(model, data, method, settings)
    eval_steps = set(settings.eval_steps)
    rows, steps, translations, traces, population, step0, status = [], [], [], [], [], None, "ok"
    last_loss, damage0, reached = float("nan"), None, {}
    for step in range(settings.steps + 1):
        triggers = [SCHEDULED] if step in eval_steps else []
        if data.tests is not None:
            traced = trace(model, data, step, damage0)
            damage0 = traced.damage_bits if damage0 is None else damage0
            traces.append(traced.examples)
            population.append(
                pd.DataFrame(
                    {"sample": "damage", "example_id": data.tests.damage_ids, "step": step, "bits": traced.damage_bits}
                )
            )
            for rule, unlearnt in traced.unlearnt.items():
                if unlearnt and rule not in reached:
                    reached[rule] = step
                    triggers.append(rule)
        if triggers:
            examples, step_metrics, step0, shared = evaluate(model, data, step, step0)
            step_metrics.update(step=step, loss=last_loss, trigger=",".join(triggers))
            rows.append(examples)
            translations.append(
                pd.DataFrame({"step": step, "sentence": range(len(shared.hypotheses)), "hypothesis": shared.hypotheses})
            )
            population.append(
                pd.DataFrame(
                    {
                        "sample": "evaluation",
                        "example_id": data.population_ids,
                        "step": step,
                        "bpt": shared.population_bpt[data.kind],
                    }
                )
            )
            steps.append(step_metrics)
            log.info(
                "step %d (%s): %s",
                step,
                step_metrics["trigger"],
                ", ".join(f"{k}={v:.3f}" for k, v in step_metrics.items() if isinstance(v, float)),
            )
            if optimisation.forget_nll0 is None:
                optimisation.forget_nll0 = torch.as_tensor(step0["forget_bits"] * core.LN2, dtype=torch.float32)
        if step == settings.steps:
            break
        started = time.perf_counter()
        try:
            last_loss = optimisation.step()
        except Diverged as e:
            status = f"diverged: {e} at step {step + 1}"
            log.error("%s; stopping this forget set (earlier steps are kept)", status)
            break
        data.timings["optimiser_s"] += time.perf_counter() - started
    signatures = {f"{m.name}_signature": m.signature() for m in corpus_scores()}
    per_step = pd.DataFrame(steps).assign(**signatures)
    return Run(
        pd.concat(rows, ignore_index=True),
        per_step,
        pd.concat(translations, ignore_index=True),
        status,
        pd.concat(traces, ignore_index=True) if traces else None,
        pd.concat(population, ignore_index=True) if population else None,
    )
