"""Integration: the tiny config through Snakemake on CPU (a few minutes)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
pytestmark = pytest.mark.integration


def snakemake(results: Path, *args: str, extra_config: dict | None = None) -> subprocess.CompletedProcess:
    configs = ["config/tiny.yaml"]
    override = results.parent / f"override-{results.name}.yaml"
    override.write_text(yaml.safe_dump({"results_dir": str(results), **(extra_config or {})}))
    configs.append(str(override))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # 4 cores: up to 4 jobs at once write to the same sqlite tracking database.
    return subprocess.run([SNAKEMAKE, "--cores", "4", "--configfile", *configs, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)


def scheduled_jobs(dry_run_output: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of each job in a dry run's output."""
    jobs = []
    for block in re.split(r"\n(?=\[.*\]\n)", dry_run_output):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if rule:
            wildcards = re.search(r"wildcards: (.*)", block)
            jobs.append((rule.group(1), wildcards.group(1) if wildcards else ""))
    return jobs


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("tiny") / "results"
    run = snakemake(results)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return results


def test_outputs_exist(tiny_run):
    for model in ("base", "reference"):
        assert (tiny_run / f"models/{model}/seed1/checkpoint.pt").stat().st_size > 0
        assert (tiny_run / f"benchmarks/train_{model}_seed1.tsv").exists()
    for name in ("id_candidates", "id_population", "canaries", "canary_population"):
        assert (tiny_run / f"data/sets/{name}.parquet").exists()


def test_mlflow_holds_parent_and_child_runs_with_metrics(tiny_run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_run}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "invocation_run_id" not in r.data.tags]
    children = [r for r in runs if "invocation_run_id" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert {r.data.tags["invocation_run_id"] for r in children} == {parents[0].info.run_id}
    # Every job of the run has its run: parallel jobs lost none (rule `all` runs no code).
    assert len(children) == 31
    train = [r for r in children if r.data.tags["rule"] == "train_model"]
    assert sorted(r.data.tags["wildcards"] for r in train) == ["model=base,seed=1", "model=reference,seed=1"]
    for r in train:
        assert {"config_hash", "git_commit"} <= set(r.data.tags)
        history = client.get_metric_history(r.info.run_id, "train_loss")
        assert [m.step for m in history] == [1, 2, 3]
        assert "valid_loss" in r.data.metrics


def test_no_temporary_files_are_left(tiny_run):
    assert not [p for p in tiny_run.rglob("*") if p.name.endswith(".tmp")]


def test_dry_run_afterwards_has_nothing_to_do(tiny_run):
    run = snakemake(tiny_run, "-n")
    assert run.returncode == 0, run.stderr
    assert "Nothing to be done" in run.stdout + run.stderr


def test_canary_change_retrains_base_but_not_reference(tiny_run):
    run = snakemake(tiny_run, "-n", extra_config={"canaries": {"per_level": 13}})
    assert run.returncode == 0, run.stderr
    jobs = scheduled_jobs(run.stdout + run.stderr)
    assert ("train_model", "model=base, seed=1") in jobs
    assert ("train_model", "model=reference, seed=1") not in jobs
    assert ("binarize", "model=reference") not in jobs


def test_malformed_config_fails_before_any_job(tmp_path):
    results = tmp_path / "results"
    run = snakemake(results, extra_config={"canaries": {"per_level": -3}})
    assert run.returncode != 0
    assert "config key 'canaries.per_level'" in run.stderr + run.stdout
    assert not results.exists()


def test_example_table_and_figures(tiny_run):
    import pandas as pd

    table = pd.read_parquet(tiny_run / "scores/examples.parquet")
    assert set(table["kind"]) == {"id", "id_population", "ood", "ood_population", "test"}
    candidates = table[table["kind"].isin(["id", "ood"])]
    assert candidates[["mem", "diff", "exposure_rank", "exposure_skewnorm"]].notna().all().all()
    assert set(candidates["diff_tercile"]) == {"easy", "medium", "hard"}
    for name in ("memorisation_vs_difficulty", "exposure_by_repetition", "metric_curves", "tradeoff",
                 "tradeoff_difficulty", "neighbour_effect", "steps_to_unlearn"):
        assert (tiny_run / f"figures/{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_unlearning_tables_summary_and_mlflow_steps(tiny_run):
    import pandas as pd
    from mlflow.tracking import MlflowClient

    steps = pd.read_parquet(tiny_run / "summary/steps.parquet")
    assert sorted(steps["step"].unique()) == [0, 3, 6]
    assert steps["forget_set"].nunique() == 8  # 2 kinds x difficulty terciles + 2 repetition levels
    table = pd.read_parquet(tiny_run / "summary/forget_sets.parquet")
    assert {"steps_to_unlearn", "bleu_drop", "chrf_drop"} <= set(table)
    assert "RelEx as an approximation of GenEx" in (tiny_run / "summary/summary.md").read_text()
    # step 0 of every job is the shared base evaluation
    base = pd.read_parquet(tiny_run / "unlearning/base_evaluation.parquet")
    step0 = steps[steps["step"] == 0]
    assert step0[["bleu", "test_bpt", "retain_bpt"]].nunique().eq(1).all()
    assert step0["test_bpt"].iloc[0] == base.loc[base["part"] == "test", "bpt"].mean()
    client = MlflowClient(tracking_uri=f"sqlite:///{tiny_run}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.rule = 'unlearn'")
    assert len(runs) == 8
    history = client.get_metric_history(runs[0].info.run_id, "bleu")
    assert [m.step for m in history] == [0, 3, 6]
    assert runs[0].data.params["method"] == "gradient_ascent"


def test_report_has_every_figure(tiny_run):
    report = tiny_run / "report.html"
    run = snakemake(tiny_run, "--report", str(report))
    assert run.returncode == 0, run.stderr[-3000:]
    html = report.read_text(errors="replace")
    for name in ("tradeoff.png", "neighbour_effect.png", "memorisation_vs_difficulty.png"):
        assert name in html


def test_unlearning_change_reruns_only_unlearning(tiny_run):
    run = snakemake(tiny_run, "-n", extra_config={"unlearning": {"lr": 0.0005}})
    assert run.returncode == 0, run.stderr
    rules = {rule for rule, _ in scheduled_jobs(run.stdout + run.stderr)}
    assert rules == {"unlearn", "summarise", "all"}
    run = snakemake(tiny_run, "-n", extra_config={"unlearning": {"retain_sample": 30}})
    assert run.returncode == 0, run.stderr
    rules = {rule for rule, _ in scheduled_jobs(run.stdout + run.stderr)}
    assert rules == {"base_evaluation", "unlearn", "summarise", "all"}


def test_batch_budget_change_rescores_but_keeps_pool_and_models(tiny_run):
    run = snakemake(tiny_run, "-n", extra_config={"scoring": {"max_tokens": 999}})
    assert run.returncode == 0, run.stderr
    rules = {rule for rule, _ in scheduled_jobs(run.stdout + run.stderr)}
    assert "score_model" in rules and "base_evaluation" in rules
    assert not rules & {"example_pool", "train_model", "binarize"}
    run = snakemake(tiny_run, "-n", extra_config={"unlearning": {"generation": {"max_tokens": 999}}})
    assert run.returncode == 0, run.stderr
    rules = {rule for rule, _ in scheduled_jobs(run.stdout + run.stderr)}
    assert rules == {"base_evaluation", "unlearn", "summarise", "all"}
