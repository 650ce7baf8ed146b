"""Where every result lives, relative to the results directory (config ``results_dir``).

The one place for these paths: the rules take their outputs, logs and benchmark files
from here, and so do the benchmark scripts and tests that read results. Templates carry
Snakemake wildcards (``{half}``, ``{seed}``, ``{forget_set}``, ``{method}``, ``{batch}``:
an unlearning batch size, ``all`` for the whole forget set); fill them with ``str.format``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# Each rule's job name: the stem of its log file and of its benchmark file.
JOBS = {
    "prepare_corpus": "prepare_corpus",
    "select_id_sets": "select_id_sets",
    "train_subword": "train_subword",
    "make_canaries": "make_canaries",
    "split_halves": "split_halves",
    "binarize": "binarize_{half}",
    "train_model": "train_{half}_seed{seed}",
    "example_pool": "example_pool",
    "score_model": "score_{half}_seed{seed}",
    "example_table": "example_table",
    "calibrate": "calibrate",
    "select_forget_set": "select_forget_set_{forget_set}",
    "base_evaluation": "base_evaluation_{half}_seed{seed}",
    "unlearn": "unlearn_{method}_batch-{batch}_{forget_set}_seed{seed}",
    "audit": "audit_{method}_batch-{batch}_{forget_set}_seed{seed}",
    "summarise": "summarise",
}


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
    power: str = "scores/power.parquet"
    forget_set: str = "forget_sets/{forget_set}.parquet"
    neighbours: str = "forget_sets/{forget_set}.neighbours.parquet"
    base_evaluation: str = "unlearning/base_evaluation/{half}_seed{seed}.parquet"
    unlearn_dir: str = "unlearning/{method}/batch-{batch}/{forget_set}/seed{seed}"
    unlearn_examples: str = "unlearning/{method}/batch-{batch}/{forget_set}/seed{seed}/examples.parquet"
    unlearn_steps: str = "unlearning/{method}/batch-{batch}/{forget_set}/seed{seed}/steps.parquet"
    unlearn_translations: str = "unlearning/{method}/batch-{batch}/{forget_set}/seed{seed}/translations.parquet"
    unlearn_trace: str = "unlearning/{method}/batch-{batch}/{forget_set}/seed{seed}/trace.parquet"
    unlearn_population: str = "unlearning/{method}/batch-{batch}/{forget_set}/seed{seed}/population.parquet"
    unlearn_status: str = "unlearning/{method}/batch-{batch}/{forget_set}/seed{seed}/status.json"
    audit_examples: str = "audits/{method}/batch-{batch}/{forget_set}/seed{seed}/examples.parquet"
    audit_evaluations: str = "audits/{method}/batch-{batch}/{forget_set}/seed{seed}/evaluations.parquet"
    audit_status: str = "audits/{method}/batch-{batch}/{forget_set}/seed{seed}/status.json"
    summary_dir: str = "summary"
    summary_steps: str = "summary/steps.parquet"
    summary_trace: str = "summary/trace.parquet"
    summary_population: str = "summary/population.parquet"
    summary_examples: str = "summary/examples.parquet"
    summary_units: str = "summary/forget_sets.parquet"
    summary_groups: str = "summary/groups.parquet"
    summary_metrics: str = "summary/metrics.parquet"
    summary_models: str = "summary/models.parquet"
    summary_agreement: str = "summary/agreement.parquet"
    summary_claims: str = "summary/claims.parquet"
    summary_audit_recovery: str = "summary/audit_recovery.parquet"
    summary_audit_membership: str = "summary/audit_membership.parquet"
    summary_audit_recovery_groups: str = "summary/audit_recovery_groups.parquet"
    summary_audit_membership_groups: str = "summary/audit_membership_groups.parquet"
    claims_markdown: str = "summary/claims.md"
    summary_markdown: str = "summary/summary.md"
    figures_dir: str = "figures"
    figure: str = "figures/{name}.png"
    logs_dir: str = "logs"
    benchmarks_dir: str = "benchmarks"

    def log(self, rule: str) -> str:
        """The log file template of ``rule``'s jobs."""
        return f"{self.logs_dir}/{JOBS[rule]}.log"

    def benchmark(self, rule: str) -> str:
        """The Snakemake benchmark file template of ``rule``'s jobs."""
        return f"{self.benchmarks_dir}/{JOBS[rule]}.tsv"

    def figure_of(self, name: str) -> str:
        return self.figure.format(name=name)


def under(results_dir: str) -> ResultPaths:
    """Every path prefixed with ``results_dir``."""
    base = ResultPaths()
    return ResultPaths(**{f.name: f"{results_dir}/{getattr(base, f.name)}" for f in fields(base)})
