"""One function per pipeline stage, called by the thin scripts in ``workflow_scripts/``.

Each takes Snakemake's ``snakemake`` object (inputs, outputs, params, wildcards, log)
and a :class:`tracking.JobRun`; it writes its outputs atomically first and logs to
MLflow afterwards.
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import binarize as binarize_mod
from . import (corpus, examples, fairseq_run, forget_sets, neighbours, plots, scoring, sets, subword, tracking,
               summary, training, unlearning)
from .io import atomic_path, write_json, write_lines, write_parquet

log = logging.getLogger("unlearn_study")


def run_job(smk, stage) -> None:
    """Set up logging to the rule's log file, open the MLflow child run, run ``stage``."""
    logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    config = smk.config
    wildcards = dict(smk.wildcards.items())
    with tracking.job_run(smk.rule, wildcards, config, config["results_dir"]) as run:
        run.log_params({k: v for k, v in smk.params.items() if k != "code"})
        try:
            stage(smk, run)
        except Exception:
            log.exception("%s failed", smk.rule)
            raise
        finally:
            run.log_artifact(smk.log[0], "logs")


def prepare_corpus(smk, run) -> None:
    splits, counts = corpus.prepare(smk.params.corpus)
    for name in ("train", "valid", "test"):
        write_parquet(splits[name], smk.output[name])
    write_json(counts, smk.output.stats)
    run.log_metrics(counts)


def select_id_sets(smk, run) -> None:
    p = smk.params.id_sets
    candidates, population, retained = sets.select_id_sets(
        pd.read_parquet(smk.input.train), p["n_candidates"], p["n_population"], p["seed"])
    write_parquet(candidates, smk.output.candidates)
    write_parquet(population, smk.output.population)
    write_parquet(retained, smk.output.retained)
    run.log_metrics({"n_candidates": len(candidates), "n_population": len(population), "n_retained": len(retained)})


def train_subword(smk, run) -> None:
    """Joint SentencePiece model on the training text that excludes the ID population."""
    p = smk.params.subword
    texts = []
    for path in (smk.input.retained, smk.input.candidates):
        df = pd.read_parquet(path)
        texts += list(df["src"]) + list(df["tgt"])
    prefix = Path(smk.output.model).with_suffix("")
    with tempfile.TemporaryDirectory(dir=prefix.parent) as tmp:
        tmp_prefix = Path(tmp) / "spm"
        subword.train_sentencepiece(texts, tmp_prefix, p["vocab_size"], p["model_type"],
                                    p["character_coverage"], Path(tmp) / "input.txt")
        sp = subword.load(tmp_prefix.with_suffix(".model"))
        write_lines(subword.fairseq_dictionary_lines(sp), smk.output.dictionary)
        Path(tmp_prefix.with_suffix(".model")).replace(smk.output.model)
    run.log_metrics({"vocab_size": sp.get_piece_size()})
    run.log_artifact(smk.output.model)


def make_canaries(smk, run) -> None:
    p = smk.params.canaries
    sp = subword.load(smk.input.spm)
    canaries, population = sets.make_canaries(
        subword.vocabulary_pieces(sp), p["length"], p["repetitions"], p["per_level"],
        p["n_population"], p["seed"], decode=lambda pieces: subword.decode(sp, pieces))
    write_parquet(canaries, smk.output.canaries)
    write_parquet(population, smk.output.population)
    run.log_metrics({"n_canaries": len(canaries), "n_population": len(population)})


def binarize(smk, run) -> None:
    sp = subword.load(smk.input.spm)
    model = smk.wildcards.model
    candidates = pd.read_parquet(smk.input.candidates) if model == "base" else None
    canaries = pd.read_parquet(smk.input.canaries) if model == "base" else None
    train = binarize_mod.training_pairs(model, pd.read_parquet(smk.input.retained), candidates, canaries, sp)
    binarize_mod.binarize(train, pd.read_parquet(smk.input.valid), pd.read_parquet(smk.input.test),
                          sp, Path(smk.input.dictionary), Path(smk.output[0]), Path(smk.log[0]))
    run.log_metrics({"train_pairs": len(train[0])})


def train_model(smk, run) -> None:
    epochs = training.train(smk.params.model, Path(smk.input.data), Path(smk.params.save_dir),
                            int(smk.wildcards.seed), Path(smk.output.checkpoint),
                            Path(smk.output.epochs), Path(smk.log[0]))
    for record in epochs:
        run.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
    run.log_artifact(smk.output.epochs)


def example_pool(smk, run) -> None:
    sp = subword.load(smk.input.spm)
    pool = examples.scoring_pool(*(pd.read_parquet(smk.input[name]) for name in
                                   ("candidates", "population", "canaries", "canary_population", "test")),
                                 test_sample=smk.params.test_sample, seed=smk.params.seed, sp=sp)
    write_parquet(pool, smk.output[0])
    run.log_metrics(pool["kind"].value_counts().rename(lambda k: f"n_{k}").to_dict())


def score_model(smk, run) -> None:
    pool = pd.read_parquet(smk.input.pool)
    model = scoring.load_model(smk.input.checkpoint, smk.input.data, device=fairseq_run.torch_device(smk.params.device))
    encoded = scoring.encode_pairs(model.src_dict, model.tgt_dict, pool["src_pieces"], pool["tgt_pieces"],
                                   max_tokens=smk.params.max_tokens)
    bits = scoring.score(model, encoded)
    write_parquet(pd.DataFrame({"example_id": pool["example_id"], "bits": bits}), smk.output[0])
    run.log_metrics({"mean_bits_per_token": float(np.mean(scoring.bits_per_token(bits, encoded.target_lengths)))})


def example_table(smk, run) -> None:
    pool = pd.read_parquet(smk.input.pool)

    def aligned(paths):
        return [pd.read_parquet(p).set_index("example_id").loc[pool["example_id"], "bits"].to_numpy() for p in paths]

    table = examples.example_table(pool, aligned(smk.input.base), aligned(smk.input.reference))
    write_parquet(table, smk.output.table)
    plots.memorisation_vs_difficulty(table, smk.output.mem_vs_diff)
    plots.exposure_by_repetition(table, smk.output.exposure)
    run.log_metrics(examples.summary(table))
    for path in smk.output:
        run.log_artifact(path)


def select_forget_sets(smk, run) -> None:
    p = smk.params.forget_sets
    table = pd.read_parquet(smk.input.table)
    for name, path in zip(smk.params.names, smk.output):
        write_parquet(forget_sets.select(table, name, p["size"], p["seed"]), path)
    run.log_metrics({"n_forget_sets": len(smk.params.names)})


def find_neighbours(smk, run) -> None:
    """Neighbours among the base model's training pairs and among the ID population."""
    sp = subword.load(smk.input.spm)
    table = pd.read_parquet(smk.input.table)
    retained = pd.read_parquet(smk.input.retained)
    retained = subword.with_pieces(pd.DataFrame({"example_id": retained["pair_id"], "src": retained["src"],
                                          "tgt": retained["tgt"]}), sp)
    training = pd.concat([retained, table[table["kind"].isin(["id", "ood"])][retained.columns]], ignore_index=True)
    population = examples.population(table, "id")
    result = neighbours.nearest(pd.read_parquet(smk.input.forget), training, population, smk.params.k)
    write_parquet(result, smk.output[0])
    run.log_metrics(result.groupby("group")["similarity"].mean().rename(lambda g: f"{g}_similarity_mean").to_dict())


def _encode(model, df: pd.DataFrame, max_tokens: int) -> scoring.EncodedPairs:
    return scoring.encode_pairs(model.src_dict, model.tgt_dict, df["src_pieces"], df["tgt_pieces"], max_tokens=max_tokens)


def _retain_split(retained: pd.DataFrame, p: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(evaluation sample, disjoint pairs that gradient difference descends on), seeded."""
    order = np.random.default_rng(p["seed"]).permutation(len(retained))
    n = min(p["retain_sample"], len(retained) // 2)
    return retained.iloc[np.sort(order[:n])], retained.iloc[np.sort(order[n:])]


# The base evaluation's parts, each keyed by its rows' ids so that a job can check it
# evaluates the very same rows.
def _base_parts(table, test, retain_eval, kinds) -> dict:
    parts = {f"population_{kind}": (examples.population(table, kind), "example_id") for kind in kinds}
    return {**parts, "test": (test, "pair_id"), "retain": (retain_eval, "pair_id")}


def base_evaluation(smk, run) -> None:
    """Evaluate the base model once on what does not depend on the forget set (step 0 of every job)."""
    p = smk.params
    sp = subword.load(smk.input.spm)
    model = scoring.load_model(smk.input.checkpoint, smk.input.data, device=fairseq_run.torch_device(p.device))
    test = subword.with_pieces(pd.read_parquet(smk.input.test), sp)
    retain_eval, _ = _retain_split(pd.read_parquet(smk.input.retained), p.retain)
    parts = _base_parts(pd.read_parquet(smk.input.table), test, subword.with_pieces(retain_eval, sp), p.kinds)
    timings = {"generation_s": 0.0, "scoring_s": 0.0}
    result = unlearning.model_evaluation(
        model, {kind: _encode(model, parts[f"population_{kind}"][0], p.max_tokens) for kind in p.kinds},
        _encode(model, test, p.max_tokens), _encode(model, parts["retain"][0], p.max_tokens),
        lambda pieces: subword.decode(sp, pieces), unlearning.Generation(**p.generation), timings)
    values = {**{f"population_{k}": v for k, v in result.population_bpt.items()},
              "test": result.test_bpt, "retain": result.retain_bpt}
    table = pd.concat([pd.DataFrame({"part": name, "id": df[key].astype(str).to_numpy(), "bpt": values[name]})
                       for name, (df, key) in parts.items()], ignore_index=True)
    table["hypothesis"] = None
    table.loc[table["part"] == "test", "hypothesis"] = result.hypotheses
    write_parquet(table, smk.output[0])
    run.log_metrics({"test_bpt": float(np.mean(result.test_bpt)), "retain_bpt": float(np.mean(result.retain_bpt)),
                     **{f"time_{k}": v for k, v in timings.items()}})


def _read_base_evaluation(path, parts: dict, kind: str) -> unlearning.ModelEvaluation:
    """The shared step-0 values, after checking they cover exactly this job's rows."""
    table = pd.read_parquet(path)
    values = {}
    for name, (df, key) in parts.items():
        rows = table[table["part"] == name]
        if rows["id"].tolist() != df[key].astype(str).tolist():
            raise ValueError(f"{path}: part {name!r} does not hold the rows this job evaluates; "
                             "delete the file and rerun rule base_evaluation")
        values[name] = rows
    return unlearning.ModelEvaluation(
        population_bpt={kind: values[f"population_{kind}"]["bpt"].to_numpy()},
        test_bpt=values["test"]["bpt"].to_numpy(), retain_bpt=values["retain"]["bpt"].to_numpy(),
        hypotheses=values["test"]["hypothesis"].tolist())


def unlearn(smk, run) -> None:
    """Unlearn one forget set with one method; tables first, MLflow after."""
    p = smk.params.unlearning
    method, name = smk.wildcards.method, smk.wildcards.forget_set
    kind, grouping, bucket = name.split("-", 2)
    run.log_params({"forget_set": name, "kind": kind, "grouping": grouping, "bucket": bucket, "method": method})
    sp = subword.load(smk.input.spm)
    model = scoring.load_model(smk.input.checkpoint, smk.input.data, device=fairseq_run.torch_device(smk.params.device))
    table = pd.read_parquet(smk.input.table)
    forget = pd.read_parquet(smk.input.forget)
    neighbour_table = pd.read_parquet(smk.input.neighbours)
    unique_neighbours = neighbour_table.drop_duplicates("example_id")
    test = subword.with_pieces(pd.read_parquet(smk.input.test), sp)
    retain_eval, retain_train = _retain_split(pd.read_parquet(smk.input.retained), p)
    if method != "gradient_difference":  # only gradient difference descends on retain pairs
        retain_train = retain_train.iloc[:0]
    retain_eval, retain_train = subword.with_pieces(retain_eval, sp), subword.with_pieces(retain_train, sp)
    parts = _base_parts(table, test, retain_eval, [kind])
    max_tokens = smk.params.max_tokens
    data = unlearning.EvalData(
        kind=kind,
        forget=forget,
        forget_pairs=_encode(model, forget, max_tokens),
        population=_encode(model, parts[f"population_{kind}"][0], max_tokens),
        neighbours=neighbour_table[["forget_id", "group", "example_id"]],
        neighbour_pairs=_encode(model, unique_neighbours, max_tokens),
        neighbour_ids=unique_neighbours["example_id"].tolist(),
        test_pairs=_encode(model, test, max_tokens),
        test_references=test["tgt"].tolist(),
        retain_pairs=_encode(model, retain_eval, max_tokens),
        retain_train_pairs=_encode(model, retain_train, max_tokens),
        decode=lambda pieces: subword.decode(sp, pieces),
        generation=unlearning.Generation(**p["generation"]),
        base=_read_base_evaluation(smk.input.base, parts, kind),
    )
    per_example, per_step, status = unlearning.unlearn(model, data, p, method)
    per_example = per_example.assign(forget_set=name, method=method, grouping=grouping, bucket=bucket)
    per_step = per_step.assign(forget_set=name, method=method, kind=kind, grouping=grouping, bucket=bucket, status=status)
    write_parquet(per_example, smk.output.examples)
    write_parquet(per_step, smk.output.steps)
    write_json({"status": status, **{k: round(v, 3) for k, v in data.timings.items()}}, smk.output.status)
    for row in per_step.to_dict("records"):
        run.log_metrics({k: v for k, v in row.items() if isinstance(v, float)}, step=int(row["step"]))
    run.log_params({k: per_step[k].iloc[0] for k in ("bleu_signature", "chrf_signature") if k in per_step})
    run.log_metrics({f"time_{k}": v for k, v in data.timings.items()})
    for path in smk.output:
        run.log_artifact(path)


def summarise(smk, run) -> None:
    steps = pd.concat([pd.read_parquet(p) for p in smk.input.steps], ignore_index=True)
    per_example = pd.concat([pd.read_parquet(p) for p in smk.input.examples], ignore_index=True)
    tau = smk.params.tau
    table = summary.per_forget_set(steps, per_example, tau)
    agree = summary.agreement(per_example)
    write_parquet(steps, smk.output.steps)
    write_parquet(per_example, smk.output.examples)
    write_parquet(table, smk.output.table)
    write_parquet(agree, smk.output.agreement)
    signature = steps["bleu_signature"].iloc[0] if "bleu_signature" in steps else "n/a"
    with atomic_path(smk.output.markdown) as tmp:
        tmp.write_text(summary.markdown(table, agree, tau, signature, steps))
    plots.metric_curves(steps, smk.output.curves)
    plots.tradeoff(steps, smk.output.tradeoff)
    plots.tradeoff_by_bucket(steps, "difficulty", smk.output.tradeoff_difficulty)
    plots.tradeoff_by_bucket(steps, "memorisation", smk.output.tradeoff_memorisation)
    plots.neighbour_effect(steps, smk.output.neighbours)
    plots.steps_to_unlearn_by_bucket(table, smk.output.steps_to_unlearn)
    for r in agree.itertuples():
        run.log_metrics({f"agreement.{r.method}.{r.kind}.spearman": r.spearman, f"agreement.{r.method}.{r.kind}.mae": r.mae})
    for path in smk.output:
        run.log_artifact(path)
