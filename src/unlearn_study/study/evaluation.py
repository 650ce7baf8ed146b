"""Evaluating a model during unlearning (docs/METHOD.md, *Metrics*).

At every evaluated step a job scores its forget set, the population of the set's kind, the
forget set's neighbours, the test set and a retain sample, translates the test set, and
hands what it measured (:class:`~unlearn_study.metrics.StepScores`) to every registered
metric (:mod:`unlearn_study.metrics`). What does not depend on the forget set
(:class:`ModelEvaluation`: populations, test, retain, translations) is the same at step 0
for every job that starts from one model, so rule ``base_evaluation`` computes it once
and stores it as *parts*, each keyed by its rows' ids so that a job can check it reads
the very same rows.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from unlearn_study import metrics
from unlearn_study.analysis import calibration
from unlearn_study.backends.fairseq import scoring
from unlearn_study.backends.fairseq.generation import Generation, translate
from unlearn_study.data import subword
from unlearn_study.infra.io import write_parquet
from unlearn_study.metrics import core
from unlearn_study.study import kinds


@dataclass
class ModelEvaluation:
    """What an evaluation measures that depends on the model alone, not on the forget set."""

    population_bpt: dict  # candidate kind -> bits/token of each member of its population
    test_bpt: np.ndarray
    retain_bpt: np.ndarray
    hypotheses: list  # detokenised test translations


@dataclass
class Tests:
    """What a job needs to decide, at every step, whether each rule counts its forget set
    as unlearnt (docs/METHOD.md, *Calibrated tests*): the strict test's band (the kind's
    calibration), the specific test's null statistics of the population's fit split under
    the unlearnt model (``null_fit``) and the fit-split sample scored at every step for its
    damage (``damage_pairs``), the level and the tau rule."""

    strict: dict  # the kind's row of the calibration table
    null_fit: np.ndarray
    damage_pairs: scoring.EncodedPairs
    damage_ids: list
    alpha: float
    tau: float


def tests(
    model, table: pd.DataFrame, kind: str, half: str, model_seed: int, strict: dict, settings: dict, max_tokens: int
) -> Tests:
    """The :class:`Tests` of a job on a forget set of ``kind`` unlearnt from the model of
    ``half`` and ``model_seed``; ``settings``: alpha, tau, holdout and seed of the
    calibration, and the damage sample's size."""
    fit, _ = calibration.split(
        kinds.population(table, kind).reset_index(drop=True), kind, settings["holdout"], settings["calibration_seed"]
    )
    rng = np.random.default_rng([settings["calibration_seed"], zlib.crc32(f"damage-{kind}".encode())])
    sample = fit.iloc[np.sort(rng.choice(len(fit), size=min(settings["damage_sample"], len(fit)), replace=False))]
    return Tests(
        strict=strict,
        null_fit=calibration.step0_null(fit, half, model_seed),
        damage_pairs=encode(model, sample, max_tokens),
        damage_ids=sample["example_id"].tolist(),
        alpha=settings["alpha"],
        tau=settings["tau"],
    )


@dataclass
class EvalData:
    """Everything evaluated at each step, encoded and batched once per job."""

    kind: str  # the forget set's kind: which population R its exposure is measured against
    forget: pd.DataFrame  # forget set rows of the example table (bits_out, target_len, ...)
    forget_pairs: scoring.EncodedPairs
    population: scoring.EncodedPairs  # R of the forget set's kind (a seeded sample)
    population_ids: list
    neighbours: pd.DataFrame  # long table: forget_id, group, example_id
    neighbour_pairs: scoring.EncodedPairs  # unique neighbour examples
    neighbour_ids: list
    test_pairs: scoring.EncodedPairs
    test_references: list  # detokenised target text
    retain_pairs: scoring.EncodedPairs  # retain sample, evaluation only
    retain_train_pairs: scoring.EncodedPairs  # disjoint retain pairs for methods that descend on them
    decode: object  # piece string -> text
    generation: Generation
    tests: Tests | None = None  # None: no test decides extra evaluations (every step is scheduled)
    base: ModelEvaluation | None = None  # step 0, shared by all jobs; None: computed in the job
    timings: dict = field(default_factory=lambda: {"generation_s": 0.0, "scoring_s": 0.0, "optimiser_s": 0.0})


def retain_split(retained: pd.DataFrame, sample: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(evaluation sample of ``sample`` retained pairs, the disjoint rest that methods
    which descend on retained pairs draw from), seeded."""
    order = np.random.default_rng(seed).permutation(len(retained))
    n = min(sample, len(retained) // 2)
    return retained.iloc[np.sort(order[:n])], retained.iloc[np.sort(order[n:])]


def population_sample(table: pd.DataFrame, kind: str, size: int, seed: int) -> pd.DataFrame:
    """``size`` members of ``kind``'s population (all when it has no more), seeded per kind
    and in table order: the members every job of that kind scores at each evaluated step."""
    members = kinds.population(table, kind)
    if len(members) <= size:
        return members
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    return members.iloc[np.sort(rng.choice(len(members), size=size, replace=False))]


def parts(
    table: pd.DataFrame, test: pd.DataFrame, retain_eval: pd.DataFrame, kind_names, population_size: int, seed: int
) -> dict:
    """name -> (rows, id column): the population samples of ``kind_names``, the test set,
    the retain sample."""
    found = {
        f"population_{kind}": (population_sample(table, kind, population_size, seed), "example_id")
        for kind in kind_names
    }
    return {**found, "test": (test, "pair_id"), "retain": (retain_eval, "pair_id")}


def encode(model, df: pd.DataFrame, max_tokens: int) -> scoring.EncodedPairs:
    """The pieces of ``df`` encoded with the model's dictionaries, in scoring batches."""
    return scoring.encode_pairs(
        model.src_dict, model.tgt_dict, df["src_pieces"], df["tgt_pieces"], max_tokens=max_tokens
    )


def write_base_evaluation(result: ModelEvaluation, evaluated: dict, path, computed_on: dict) -> None:
    """One row per evaluated row: part, id, bits/token, and the hypothesis for test rows;
    ``computed_on``: the model's device and dtype, on every row."""
    values = {
        **{f"population_{k}": v for k, v in result.population_bpt.items()},
        "test": result.test_bpt,
        "retain": result.retain_bpt,
    }
    table = pd.concat(
        [
            pd.DataFrame({"part": name, "id": df[key].astype(str).to_numpy(), "bpt": values[name]})
            for name, (df, key) in evaluated.items()
        ],
        ignore_index=True,
    )
    table["hypothesis"] = None
    table.loc[table["part"] == "test", "hypothesis"] = result.hypotheses
    write_parquet(table.assign(**computed_on), path)


def read_base_evaluation(path, evaluated: dict, kind: str) -> ModelEvaluation:
    """The shared step-0 values, after checking they cover exactly this job's rows."""
    table = pd.read_parquet(path)
    values = {}
    for name, (df, key) in evaluated.items():
        rows = table[table["part"] == name]
        if rows["id"].tolist() != df[key].astype(str).tolist():
            raise ValueError(
                f"{path}: part {name!r} does not hold the rows this job evaluates; "
                "delete the file and rerun rule base_evaluation"
            )
        values[name] = rows
    return ModelEvaluation(
        population_bpt={kind: values[f"population_{kind}"]["bpt"].to_numpy()},
        test_bpt=values["test"]["bpt"].to_numpy(),
        retain_bpt=values["retain"]["bpt"].to_numpy(),
        hypotheses=values["test"]["hypothesis"].tolist(),
    )


def job_data(
    model,
    sp,
    *,
    kind: str,
    table: pd.DataFrame,
    forget: pd.DataFrame,
    neighbours: pd.DataFrame,
    test: pd.DataFrame,
    retained: pd.DataFrame,
    retain_sample: int,
    population_size: int,
    seed: int,
    needs_retain: bool,
    max_tokens: int,
    generation: Generation,
    base_path=None,
    tests: Tests | None = None,
) -> EvalData:
    """An unlearning job's :class:`EvalData` from its input tables (the rule's and the
    benchmarks' one set-up); ``base_path``: the model's base evaluation (None: step 0 is
    evaluated in the job)."""
    test = subword.with_pieces(test, sp)
    retain_eval, retain_train = retain_split(retained, sample=retain_sample, seed=seed)
    if not needs_retain:
        retain_train = retain_train.iloc[:0]
    retain_eval, retain_train = subword.with_pieces(retain_eval, sp), subword.with_pieces(retain_train, sp)
    evaluated = parts(table, test, retain_eval, [kind], population_size, seed)
    unique_neighbours = neighbours.drop_duplicates("example_id")

    def encoded(df):
        return encode(model, df, max_tokens)

    return EvalData(
        kind=kind,
        forget=forget,
        forget_pairs=encoded(forget),
        population=encoded(evaluated[f"population_{kind}"][0]),
        population_ids=evaluated[f"population_{kind}"][0]["example_id"].tolist(),
        neighbours=neighbours[["forget_id", "group", "example_id"]],
        neighbour_pairs=encoded(unique_neighbours),
        neighbour_ids=unique_neighbours["example_id"].tolist(),
        test_pairs=encoded(test),
        test_references=test["tgt"].tolist(),
        retain_pairs=encoded(retain_eval),
        retain_train_pairs=encoded(retain_train),
        decode=lambda pieces: subword.decode(sp, pieces),
        generation=generation,
        tests=tests,
        base=read_base_evaluation(base_path, evaluated, kind) if base_path is not None else None,
    )


def unit_job_data(smk, model, sp, kind: str, half: str, model_seed: int, needs_retain: bool, base_path=None):
    """(:class:`EvalData` with its :class:`Tests`, the example table) of an unlearning
    unit's job, from the rule's inputs, params (tests, retain and population samples,
    seed, generation) and resources (batch budgets): the set-up rules unlearn and audit
    share."""
    inputs, p, resources = smk.input, smk.params, smk.resources
    table = pd.read_parquet(inputs.table)
    strict = pd.read_parquet(inputs.calibration).set_index("kind").loc[kind].to_dict()
    data = job_data(
        model,
        sp,
        kind=kind,
        table=table,
        forget=pd.read_parquet(inputs.forget),
        neighbours=pd.read_parquet(inputs.neighbours),
        test=pd.read_parquet(inputs.test),
        retained=pd.read_parquet(inputs.retained),
        retain_sample=p.retain_sample,
        population_size=p.population_sample,
        seed=p.seed,
        needs_retain=needs_retain,
        max_tokens=resources.scoring_tokens,
        generation=Generation(**p.generation, max_tokens=resources.generation_tokens),
        base_path=base_path,
        tests=tests(model, table, kind, half, model_seed, strict, p.tests, resources.scoring_tokens),
    )
    return data, table


def greedy(generation: Generation) -> Generation:
    """The generation settings with beam 1: extraction asks what greedy decoding produces."""
    return dataclasses.replace(generation, beam=1)


def score_bpt(model, pairs: scoring.EncodedPairs) -> np.ndarray:
    """Bits per token of every pair, in pair order."""
    return core.bits_per_token(scoring.score(model, pairs), pairs.target_lengths)


def model_evaluation(
    model, populations: dict, test_pairs, retain_pairs, decode, generation: Generation, timings: dict
) -> ModelEvaluation:
    """Score each population (``kind -> EncodedPairs``), the test set and the retain sample,
    and translate the test set; add the seconds spent to ``timings``."""
    model.model.eval()
    started = time.perf_counter()
    population_bpt = {kind: score_bpt(model, pairs) for kind, pairs in populations.items()}
    test_bpt, retain_bpt = score_bpt(model, test_pairs), score_bpt(model, retain_pairs)
    timings["scoring_s"] += time.perf_counter() - started
    started = time.perf_counter()
    hypotheses = translate(model, test_pairs, decode, generation)
    timings["generation_s"] += time.perf_counter() - started
    return ModelEvaluation(population_bpt, test_bpt, retain_bpt, hypotheses)


EXAMPLE_COLUMNS = ["example_id", "kind", "repetitions", "diff_tercile", "mem_tercile", "target_len"]


def evaluate(model, data: EvalData, step: int, step0: dict | None):
    """Every registered metric of the current model (docs/METHOD.md, *Metrics*).

    ``step0`` holds step-0 values (population and neighbour bits/token, forget bits) that
    later steps are compared with; it is ``None`` at step 0 and returned filled. At step 0
    the model-only part comes from ``data.base`` when given.
    Returns (per-example table, step metrics, step0, the model-only evaluation: population
    sample, test and retain scores, test translations).
    """
    model.model.eval()
    started = time.perf_counter()
    forget_bits = scoring.score(model, data.forget_pairs)
    neighbour_bpt = score_bpt(model, data.neighbour_pairs)
    data.timings["scoring_s"] += time.perf_counter() - started
    started = time.perf_counter()
    forget_hypotheses = translate(model, data.forget_pairs, data.decode, greedy(data.generation))
    data.timings["generation_s"] += time.perf_counter() - started
    if step0 is None and data.base is not None:
        shared = data.base
    else:
        shared = model_evaluation(
            model,
            {data.kind: data.population},
            data.test_pairs,
            data.retain_pairs,
            data.decode,
            data.generation,
            data.timings,
        )
    population_bpt = shared.population_bpt[data.kind]
    if step0 is None:
        step0 = {"population_bpt": population_bpt, "neighbour_bpt": neighbour_bpt, "forget_bits": forget_bits}
    scores = metrics.StepScores(
        step=step,
        forget=data.forget,
        forget_bits=forget_bits,
        forget_hypotheses=forget_hypotheses,
        population_bpt=population_bpt,
        population_bpt0=step0["population_bpt"],
        neighbours=data.neighbours,
        neighbour_delta_bpt=pd.Series(neighbour_bpt - step0["neighbour_bpt"], index=data.neighbour_ids),
        test_bpt=shared.test_bpt,
        retain_bpt=shared.retain_bpt,
        hypotheses=shared.hypotheses,
        references=data.test_references,
    )
    per_example, step_metrics = metrics.evaluate(scores)
    examples = data.forget[EXAMPLE_COLUMNS].assign(step=step, bits=forget_bits, **per_example)
    return examples, step_metrics, step0, shared


@dataclass
class Trace:
    """One step's tests of the forget set (every step): per example its bits, GenEx, the
    pooled statistic and whether each test finds it indistinguishable from never trained;
    the specific band of the step; and the damage sample's bits."""

    examples: pd.DataFrame
    damage_bits: np.ndarray
    unlearnt: dict  # rule -> whether the set counts as unlearnt at this step


def trace(model, data: EvalData, step: int, damage_bits0: np.ndarray | None) -> Trace:
    """The forget set and the damage sample scored at ``step`` and the three rules decided
    (strict and specific tests, tau rule); ``damage_bits0``: the sample's bits at step 0
    (None at step 0)."""
    started = time.perf_counter()
    forget_bits = scoring.score(model, data.forget_pairs)
    tests = data.tests
    damage_bits = scoring.score(model, tests.damage_pairs)
    data.timings["tracing_s"] = data.timings.get("tracing_s", 0.0) + time.perf_counter() - started
    damage_bits0 = damage_bits if damage_bits0 is None else damage_bits0
    lengths = data.forget["target_len"].to_numpy()
    rows = data.forget[["example_id", "target_len", "bits_out"]].assign(
        step=step, bits=forget_bits, genex=data.forget["bits_out"].to_numpy() - forget_bits
    )
    rows["statistic"] = calibration.pooled_statistic(rows["genex"], lengths)
    strict_rows = rows.assign(**{c: data.forget[c] for c in ("bits_out_mean", "bits_out_sd") if c in data.forget})
    rows["strict"] = calibration.indistinguishable(strict_rows, tests.strict)
    damage = calibration.damage(damage_bits, damage_bits0, tests.damage_pairs.target_lengths)
    low, high = calibration.specific_band(tests.null_fit, damage, tests.alpha)
    rows["specific"] = calibration.inside(rows["statistic"], low, high)
    rows["specific_low"], rows["specific_high"] = low, high
    needed = calibration.unlearnt_count(len(rows), tests.alpha)
    unlearnt = {
        "strict": bool(rows["strict"].sum() >= needed),
        "specific": bool(rows["specific"].sum() >= needed),
        "tau": bool(rows["genex"].mean() <= tests.tau),
    }
    return Trace(rows.drop(columns=["bits_out"]), damage_bits, unlearnt)
