"""Does it stay forgotten? The audits of one unlearnt model (docs/METHOD.md, *Audits*).

An audit job rebuilds the unlearning run's model state by replaying it (the run is
deterministic: dropout off, seeded batches; on the CPU the replay is bit-identical, and
the job checks it against the run's recorded trace), then evaluates *variants* of it:

- ``original``: the model before unlearning (step 0), the reference of everything else;
- ``unlearnt``: the model at an audited *state* (the last step, or the first step at which
  a rule counts the set as unlearnt);
- ``quantisation``: the original and the unlearnt model with every weight matrix rounded
  to ``bits`` bits, symmetric per output channel (weight-only post-training quantisation);
- ``relearn``: the unlearnt model after ordinary training (mean token NLL, Adam) on one
  *source* of data: ``retain`` (retained training pairs), ``neighbours`` (the forget set's
  trained neighbours) or ``forget`` (a share of the forget set itself, whose other
  examples are the ones measured).

Each evaluation scores the forget set (its tests, as in the unlearning run), the
population sample of the set's kind, the set's trained and never-trained neighbours, the
damage sample, and translates the forget sources (extraction) and the test set (BLEU).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from unlearn_study.analysis import calibration
from unlearn_study.backends.fairseq import scoring
from unlearn_study.backends.fairseq.generation import translate
from unlearn_study.metrics import core
from unlearn_study.metrics.translation import BLEU
from unlearn_study.study import evaluation, kinds, unlearning
from unlearn_study.study.evaluation import EvalData
from unlearn_study.study.kinds import HALVES

log = logging.getLogger(__name__)

LAST = "last"  # the state at the run's last step; the other states are named by their rule
REPLAY_TOLERANCE_BITS = 1e-3  # on the CPU the replay is exact; other devices reorder float sums
# Out-model bits of an example (study.examples): LME over the out-models' seeds (the pooled
# membership statistic), their plain mean and standard deviation (the per-example one).
OUT_COLUMNS = ("bits_out", "bits_out_mean", "bits_out_sd")


@dataclass(frozen=True)
class Settings:
    """Config ``audits`` (without the replicate selection, which decides which jobs run)."""

    states: tuple  # "last" and/or rule names: strict, specific, tau
    relearn_sources: tuple
    relearn_steps: int
    relearn_eval_steps: tuple
    relearn_lr: float
    relearn_batch_size: int
    forget_fraction: float
    quantisation_bits: tuple
    seed: int


def state_steps(trace: pd.DataFrame, steps: pd.DataFrame, states) -> dict:
    """state -> the unlearning step it is read at: ``last`` the last traced step, a rule
    its first step of counting the set as unlearnt (the steps table's trigger); a rule
    never met has no state."""
    found = {}
    for state in states:
        if state == LAST:
            found[state] = int(trace["step"].max())
            continue
        met = steps.loc[steps["trigger"].str.split(",").apply(lambda t, s=state: s in t), "step"]
        if len(met):
            found[state] = int(met.min())
    return found


def replay(model, data: EvalData, method, settings: unlearning.Settings, to_steps, trace: pd.DataFrame) -> dict:
    """Model states (state_dict copies) at each step of ``to_steps``, by repeating the
    unlearning run's optimisation; each checked against the run's traced forget bits.
    Returns step -> (state_dict, largest |bits difference| over the forget set)."""
    optimisation = unlearning.Optimisation(model, data, method, settings)
    optimisation.forget_nll0 = torch.as_tensor(
        scoring.score(model, data.forget_pairs) * core.LN2, dtype=torch.float32
    )  # as the run sets it from its step-0 evaluation
    recorded = trace.pivot(index="step", columns="example_id", values="bits")
    states = {}
    for step in range(max(to_steps) + 1):
        if step in to_steps:
            bits = scoring.score(model, data.forget_pairs)
            expected = recorded.loc[step, data.forget["example_id"]].to_numpy()
            difference = float(np.max(np.abs(bits - expected)))
            if not difference <= REPLAY_TOLERANCE_BITS:
                raise RuntimeError(
                    f"replaying the unlearning run does not reproduce it at step {step}: forget bits differ by "
                    f"up to {difference:.3g} (tolerance {REPLAY_TOLERANCE_BITS}); the run's outputs are stale or "
                    "were computed on another device: rerun its unlearn job"
                )
            states[step] = (copy.deepcopy(model.model.state_dict()), difference)
        if step < max(to_steps):
            optimisation.step()
    return states


def rounded_weights(model, bits: int) -> None:
    """Round every weight matrix of ``model`` in place to ``bits`` bits, symmetric per
    output channel (row): the weights 4-bit post-training quantisation stores."""
    levels = 2 ** (bits - 1) - 1
    with torch.no_grad():
        for parameter in model.model.parameters():
            if parameter.dim() < 2:
                continue
            flat = parameter.view(parameter.shape[0], -1)
            scale = flat.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(flat.dtype).tiny) / levels
            flat.copy_(torch.round(flat / scale).clamp(-levels, levels) * scale)


def quantised(model, bits: int):
    """A copy of ``model`` with its weights rounded to ``bits`` bits (:func:`rounded_weights`).

    Weight-only, on any device: torch's dynamic int8 quantisation cannot run fairseq's
    attention (it reads the projection weights as tensors) and is deprecated; rounding
    the weights as it stores them, per channel, keeps the activations in float32."""
    copied = copy.copy(model)
    copied.model = copy.deepcopy(model.model)
    rounded_weights(copied, bits)
    return copied


@dataclass
class AuditData:
    """What an audit adds to the unlearning job's :class:`EvalData`: the population
    sample's out-model bits (``OUT_COLUMNS``); each unique neighbour's group (trained,
    unseen), kind (a candidate kind, or ``retained`` for the training pairs every model
    saw) and out-model bits (candidates only: the others have no out-model); the pairs
    each relearning source trains on (with the forget example ids it trains on)."""

    population_out: pd.DataFrame
    neighbour_groups: list
    neighbour_kinds: list
    neighbour_out: pd.DataFrame
    relearn_pairs: dict  # source -> (EncodedPairs, forget example ids trained on)


def audit_data(
    model,
    data: EvalData,
    table: pd.DataFrame,
    population: pd.DataFrame,
    neighbours: pd.DataFrame,
    half: str,
    settings: Settings,
    max_tokens: int,
) -> AuditData:
    """``table``: the example table; ``population``: the rows of ``data.population`` in it; ``neighbours``: the
    forget set's neighbour table with pieces. The ``forget`` source takes a seeded share of
    the forget set (at least one example, at least one left out to measure)."""
    unique = neighbours.drop_duplicates("example_id").set_index("example_id")
    groups = unique.loc[data.neighbour_ids, "group"].tolist()
    known = table.set_index("example_id").reindex(data.neighbour_ids)
    candidate = known["kind"].isin(list(kinds.KINDS)).to_numpy()
    neighbour_kinds = np.where(
        candidate, known["kind"].fillna(""), np.where(known["kind"].isna(), "retained", known["kind"])
    )

    def forget_share():
        forget = data.forget
        take = min(max(1, int(round(settings.forget_fraction * len(forget)))), len(forget) - 1)
        rng = np.random.default_rng(settings.seed)
        chosen = forget.iloc[np.sort(rng.choice(len(forget), size=take, replace=False))]
        return evaluation.encode(model, chosen, max_tokens), chosen["example_id"].tolist()

    trained = neighbours[neighbours["group"] == "trained"].drop_duplicates("example_id")
    sources = {  # built only for the sources audited (forget_fraction is None without ``forget``)
        "retain": lambda: (data.retain_train_pairs, []),
        "neighbours": lambda: (evaluation.encode(model, trained, max_tokens), []),
        "forget": forget_share,
    }
    return AuditData(
        population_out=population_out(population, half),
        neighbour_groups=groups,
        neighbour_kinds=neighbour_kinds.tolist(),
        neighbour_out=known[list(OUT_COLUMNS)].astype(float).reset_index(drop=True).where(pd.Series(candidate), axis=0),
        relearn_pairs={source: sources[source]() for source in settings.relearn_sources},
    )


def relearn(model, pairs: scoring.EncodedPairs, settings: Settings, seed: int):
    """Yield (step, model) after each of ``settings.relearn_steps`` steps of ordinary
    training (mean token NLL, Adam, dropout off) on ``pairs``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [p for p in model.model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=settings.relearn_lr)
    stream = unlearning.batch_cycle(pairs, model.tgt_dict, min(settings.relearn_batch_size, len(pairs)), rng)
    for step in range(1, settings.relearn_steps + 1):
        model.model.eval()
        batch = next(stream)
        loss = scoring.sequence_nll(model, batch).sum() / batch.target_mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        yield step, model


@dataclass
class Evaluation:
    """What one evaluation of a variant measured: per example (every group) and per evaluation."""

    examples: pd.DataFrame
    summary: dict


def evaluate(model, data: EvalData, extra: AuditData, damage0: np.ndarray | None, bleu: BLEU):
    """Score and translate everything an audit compares (see the module docstring).
    Returns (:class:`Evaluation`, the damage sample's bits)."""
    model.model.eval()
    traced = evaluation.trace(model, data, 0, damage0)
    forget = traced.examples
    hypotheses = translate(model, data.forget_pairs, data.decode, evaluation.greedy(data.generation))
    extracted = core.exact_match(hypotheses, data.forget["tgt"].tolist())
    population_bits = scoring.score(model, data.population)
    neighbour_bits = scoring.score(model, data.neighbour_pairs)
    test_hypotheses = translate(model, data.test_pairs, data.decode, data.generation)
    groups = [
        pd.DataFrame(
            {
                "group": "forget",
                "example_id": forget["example_id"],
                "target_len": forget["target_len"],
                "bits": forget["bits"],
                **{c: data.forget[c].to_numpy(float) for c in OUT_COLUMNS},
                "strict": forget["strict"],
                "specific": forget["specific"],
                "extracted": extracted,
            }
        ),
        pd.DataFrame(
            {
                "group": "population",
                "example_id": data.population_ids,
                "target_len": data.population.target_lengths,
                "bits": population_bits,
                **{c: extra.population_out[c].to_numpy() for c in OUT_COLUMNS},
            }
        ),
        pd.DataFrame(
            {
                "group": ["neighbour_" + g for g in extra.neighbour_groups],
                "example_kind": extra.neighbour_kinds,
                "example_id": data.neighbour_ids,
                "target_len": data.neighbour_pairs.target_lengths,
                "bits": neighbour_bits,
                **{c: extra.neighbour_out[c].to_numpy() for c in OUT_COLUMNS},
            }
        ),
    ]
    summary = {
        "bleu": bleu.corpus(test_hypotheses, data.test_references),
        "extraction_rate": float(np.mean(extracted)),
        "genex_mean": float(forget["genex"].mean()),
        "strict_share": float(forget["strict"].mean()),
        "specific_share": float(forget["specific"].mean()),
        **{f"{rule}_unlearnt": value for rule, value in traced.unlearnt.items()},
    }
    return Evaluation(pd.concat(groups, ignore_index=True), summary), traced.damage_bits


def population_out(population: pd.DataFrame, half: str) -> pd.DataFrame:
    """A never-trained member's out-model bits for a model of ``half`` (``OUT_COLUMNS``):
    the other half's models, as for a candidate of ``half`` (study.examples)."""
    other = HALVES[1 - HALVES.index(half)]
    seeds = population[calibration.seed_columns(population, other)].to_numpy(float)
    return pd.DataFrame(
        {
            "bits_out": population[f"bits_{other}"].to_numpy(float),
            "bits_out_mean": seeds.mean(axis=1),
            "bits_out_sd": seeds.std(axis=1, ddof=1) if seeds.shape[1] > 1 else np.nan,
        }
    )


def audit(model, data: EvalData, extra: AuditData, method, unlearning_settings, settings: Settings, trace, steps):
    """Every audit of one unlearning unit. Returns (per-example table, per-evaluation table,
    status: the states found, the replay check, timings)."""
    started = time.perf_counter()
    bleu = BLEU()
    at = state_steps(trace, steps, settings.states)
    replayed = replay(model, data, method, unlearning_settings, sorted({0, *at.values()}), trace)
    rows, summaries = [], []

    def record(result: Evaluation, states, **labels) -> None:
        """One evaluation, under each state it stands for (states at one step share it)."""
        log.info("%s %s: %s", states, labels, ", ".join(f"{k}={v:.3f}" for k, v in result.summary.items()))
        for state in states:
            rows.append(result.examples.assign(state=state, **labels))
            summaries.append({"state": state, **labels, **result.summary})

    def load(step):
        model.model.load_state_dict(replayed[step][0])
        return model

    original, damage0 = evaluate(load(0), data, extra, None, bleu)
    record(original, ["before"], audit="original", variant="fp32", state_step=0, step=0)
    for bits in settings.quantisation_bits:
        result, _ = evaluate(quantised(load(0), bits), data, extra, damage0, bleu)
        record(result, ["before"], audit="quantisation", variant=f"int{bits}", state_step=0, step=0)
    for step in sorted(set(at.values())):
        states = [state for state, at_step in at.items() if at_step == step]
        unlearnt, _ = evaluate(load(step), data, extra, damage0, bleu)
        record(unlearnt, states, audit="unlearnt", variant="fp32", state_step=step, step=0)
        for bits in settings.quantisation_bits:
            result, _ = evaluate(quantised(load(step), bits), data, extra, damage0, bleu)
            record(result, states, audit="quantisation", variant=f"int{bits}", state_step=step, step=0)
        for source in settings.relearn_sources:
            pairs, trained_ids = extra.relearn_pairs[source]
            if len(pairs) == 0:
                log.warning("step %d: no %s pairs to relearn on; skipped", step, source)
                continue
            for relearn_step, relearnt in relearn(load(step), pairs, settings, settings.seed):
                if relearn_step in settings.relearn_eval_steps:
                    result, _ = evaluate(relearnt, data, extra, damage0, bleu)
                    result.examples["relearnt_on"] = result.examples["example_id"].isin(trained_ids)
                    record(result, states, audit="relearn", variant=source, state_step=step, step=relearn_step)
    status = {
        "states": at,
        "replay_max_abs_bits": max(difference for _, difference in replayed.values()),
        "audit_s": round(time.perf_counter() - started, 3),
    }
    examples = pd.concat(rows, ignore_index=True)
    examples["relearnt_on"] = examples.get("relearnt_on", pd.Series(False, index=examples.index)).fillna(False)
    return examples, pd.DataFrame(summaries), status
