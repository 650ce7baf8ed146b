"""Integration: the tiny config through Snakemake on CPU (a few minutes)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from unlearn_study.config import load_config
from unlearn_study.forget_sets import forget_set_names

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
TINY = load_config(ROOT / "config" / "tiny.yaml")
FORGET_SETS = forget_set_names(TINY)
METHODS = TINY["unlearning"]["methods"]
pytestmark = pytest.mark.integration


def snakemake(
    results: Path, *args: str, extra_config: dict | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    configs = ["config/tiny.yaml"]
    override = results.parent / f"override-{results.name}.yaml"
    override.write_text(yaml.safe_dump({"results_dir": str(results), **(extra_config or {})}))
    configs.append(str(override))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # 4 cores: up to 4 jobs at once write to the same sqlite tracking database.
    return subprocess.run(
        [SNAKEMAKE, "--cores", "4", "--configfile", *configs, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


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
    # Every job of the run has its run (one log file each): parallel jobs lost none.
    assert len(children) == len(list((tiny_run / "logs").glob("*.log")))
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
    for name in (
        "memorisation_vs_difficulty",
        "exposure_by_repetition",
        "metric_curves",
        "tradeoff",
        "tradeoff_difficulty",
        "neighbour_effect",
        "steps_to_unlearn",
    ):
        assert (tiny_run / f"figures/{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_unlearning_tables_summary_and_mlflow_steps(tiny_run):
    import pandas as pd
    from mlflow.tracking import MlflowClient

    steps = pd.read_parquet(tiny_run / "summary/steps.parquet")
    assert sorted(steps["step"].unique()) == [0, 3, 6]
    assert steps["forget_set"].nunique() == len(FORGET_SETS) == 8  # 2 kinds x difficulty terciles + 2 repetition levels
    assert set(steps["method"]) == set(METHODS) and len(METHODS) == 2
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
    assert len(runs) == len(FORGET_SETS) * len(METHODS)
    history = client.get_metric_history(runs[0].info.run_id, "bleu")
    assert [m.step for m in history] == [0, 3, 6]
    assert {r.data.params["method"] for r in runs} == set(METHODS)


def test_report_has_every_figure(tiny_run):
    report = tiny_run / "report.html"
    run = snakemake(tiny_run, "--report", str(report))
    assert run.returncode == 0, run.stderr[-3000:]
    html = report.read_text(errors="replace")
    for name in ("tradeoff.png", "neighbour_effect.png", "memorisation_vs_difficulty.png"):
        assert name in html


def scheduled(results: Path, extra_config: dict) -> set[tuple[str, str]]:
    run = snakemake(results, "-n", extra_config=extra_config)
    assert run.returncode == 0, run.stderr
    return set(scheduled_jobs(run.stdout + run.stderr))


def downstream_of_scores(table_jobs: set) -> set:
    """Every job that reads the example table, directly or not (tiny config, 8 forget sets)."""
    per_set = {
        (rule, f"forget_set={name}") for rule in ("select_forget_set", "find_neighbours") for name in FORGET_SETS
    }
    unlearn = {("unlearn", f"method={m}, forget_set={name}") for m in METHODS for name in FORGET_SETS}
    return (
        table_jobs
        | per_set
        | unlearn
        | {("example_table", ""), ("base_evaluation", ""), ("summarise", ""), ("all", "")}
    )


@pytest.mark.parametrize(
    "edit, expected",
    [
        # resources, not hyper-parameters: nothing to do
        ({"model": {"threads": 2}}, set()),
        ({"model": {"device": "cpu"}}, set()),
        ({"unlearning": {"generation": {"max_tokens": 999}}}, set()),  # translations do not depend on it
        # read by the summary only
        ({"unlearning": {"tau": 5.0}}, {("summarise", ""), ("all", "")}),
        ({"forget_sets": {"groupings": ["difficulty"]}}, {("summarise", ""), ("all", "")}),
        # one more method: its jobs only
        (
            {"unlearning": {"methods": [*METHODS, "simnpo"]}},
            {("unlearn", f"method=simnpo, forget_set={name}") for name in FORGET_SETS}
            | {("summarise", ""), ("all", "")},
        ),
        # another method's argument: not these methods' jobs
        ({"unlearning": {"method_args": {"simnpo": {"beta": 3.0}}}}, set()),
        # one more grouping: the new sets' jobs only
        (
            {"forget_sets": {"groupings": ["difficulty", "repetition", "memorisation"]}},
            {
                (rule, f"forget_set={kind}-memorisation-{b}")
                for rule in ("select_forget_set", "find_neighbours")
                for kind in ("id", "ood")
                for b in ("low", "medium", "high")
            }
            | {
                ("unlearn", f"method={m}, forget_set={kind}-memorisation-{b}")
                for m in METHODS
                for kind in ("id", "ood")
                for b in ("low", "medium", "high")
            }
            | {("summarise", ""), ("all", "")},
        ),
    ],
)
def test_a_config_edit_schedules_exactly_what_it_changes(tiny_run, edit, expected):
    assert scheduled(tiny_run, edit) == expected


def test_more_seeds_train_only_the_new_models(tiny_run):
    new_seed = {
        (rule, f"model={model}, seed=2") for rule in ("train_model", "score_model") for model in ("base", "reference")
    }
    assert scheduled(tiny_run, {"model": {"seeds": [1, 2]}}) == downstream_of_scores(new_seed)


def test_unlearning_change_reruns_only_unlearning(tiny_run):
    assert {rule for rule, _ in scheduled(tiny_run, {"unlearning": {"lr": 0.0005}})} == {"unlearn", "summarise", "all"}
    rules = {rule for rule, _ in scheduled(tiny_run, {"unlearning": {"retain_sample": 30}})}
    assert rules == {"base_evaluation", "unlearn", "summarise", "all"}


def test_batch_budget_change_rescores_but_keeps_pool_and_models(tiny_run):
    rules = {rule for rule, _ in scheduled(tiny_run, {"scoring": {"max_tokens": 999}})}
    assert "score_model" in rules and "base_evaluation" in rules
    assert not rules & {"example_pool", "train_model", "binarize"}


@pytest.fixture
def repo_copy(tmp_path, tiny_run):
    """The repository's tracked files plus Snakemake's record of the tiny run, in tmp_path."""
    copy = tmp_path / "repo"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / ".snakemake" / "metadata", copy / ".snakemake" / "metadata")
    return copy


def test_editing_a_helper_reruns_the_stages_that_import_it(tiny_run, repo_copy):
    def after_editing(module):
        path = repo_copy / "src" / "unlearn_study" / module
        source = path.read_text()
        path.write_text(source + "\n# edited\n")
        run = snakemake(tiny_run, "-n", cwd=repo_copy)
        path.write_text(source)
        assert run.returncode == 0, run.stderr
        return {rule for rule, _ in scheduled_jobs(run.stdout + run.stderr)}

    # eval_sets: read by base_evaluation and unlearn, by no stage upstream of them
    assert after_editing("eval_sets.py") == {"base_evaluation", "unlearn", "summarise", "all"}
    # neighbours: find_neighbours alone (and what reads its output), not base_evaluation
    assert after_editing("neighbours.py") == {"find_neighbours", "unlearn", "summarise", "all"}


def test_a_stage_runs_by_hand_as_snakemake_runs_it(tiny_run, tmp_path):
    """workflow_scripts/<rule>.py with wildcards and config files, outside Snakemake."""
    import pandas as pd

    name = FORGET_SETS[0]
    made = tiny_run / f"forget_sets/{name}.parquet"
    expected = pd.read_parquet(made)
    made.unlink()
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"results_dir": str(tiny_run)}))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "workflow_scripts/select_forget_set.py"),
            f"forget_set={name}",
            "--configfile",
            str(ROOT / "config/tiny.yaml"),
            str(override),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    pd.testing.assert_frame_equal(pd.read_parquet(made), expected)
    assert (tiny_run / f"logs/select_forget_set_{name}.log").exists()
