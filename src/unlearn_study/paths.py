"""Where every result lives, relative to the results directory (config ``results_dir``).

The one place for these paths: the rules take their outputs from here, and so do the
benchmark scripts and tests that read results. Templates carry Snakemake wildcards
(``{half}``, ``{seed}``, ``{forget_set}``, ``{method}``); fill them with ``str.format``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ResultPaths:
    train: str = "data/corpus/train.parquet"
    valid: str = "data/corpus/valid.parquet"
    test: str = "data/corpus/test.parquet"
    corpus_stats: str = "data/corpus/stats.json"
    id_candidates: str = "data/sets/id_candidates.parquet"
    id_population: str = "data/sets/id_population.parquet"
    retained: str = "data/sets/train_retained.parquet"
    canaries: str = "data/sets/canaries.parquet"
    canary_population: str = "data/sets/canary_population.parquet"
    halves: str = "data/sets/halves.parquet"
    spm: str = "data/subword/spm.model"
    dictionary: str = "data/subword/dict.txt"
    data_bin: str = "data/bin/{half}"
    checkpoint: str = "models/{half}/seed{seed}/checkpoint.pt"
    training: str = "models/{half}/seed{seed}/training.json"
    pool: str = "scores/pool.parquet"
    scores: str = "scores/{half}_seed{seed}.parquet"
    examples: str = "scores/examples.parquet"
    calibration: str = "scores/calibration.parquet"
    forget_set: str = "forget_sets/{forget_set}.parquet"
    neighbours: str = "forget_sets/{forget_set}.neighbours.parquet"
    base_evaluation: str = "unlearning/base_evaluation/{half}_seed{seed}.parquet"
    unlearn_dir: str = "unlearning/{method}/{forget_set}/seed{seed}"
    summary_dir: str = "summary"
    figures_dir: str = "figures"
    logs_dir: str = "logs"
    benchmarks_dir: str = "benchmarks"


def under(results_dir: str) -> ResultPaths:
    """Every path prefixed with ``results_dir``."""
    base = ResultPaths()
    return ResultPaths(**{f.name: f"{results_dir}/{getattr(base, f.name)}" for f in fields(base)})
