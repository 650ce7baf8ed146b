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

import pandas as pd

from . import binarize as binarize_mod
from . import corpus, sets, subword, tracking, training
from .io import write_json, write_lines, write_parquet

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
