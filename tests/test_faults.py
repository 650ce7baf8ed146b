"""Faults: tracking failures, parallel logging, interrupted writes and training."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unlearn_study.infra import tracking
from unlearn_study.infra.io import atomic_path

ROOT = Path(__file__).resolve().parents[1]


def test_unreachable_tracking_server_fails_before_any_job(tmp_path):
    env = dict(os.environ, MLFLOW_TRACKING_URI="http://127.0.0.1:9")  # nothing listens on port 9
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "--cores",
            "1",
            "--configfile",
            "config/tiny.yaml",
            "--config",
            f"results_dir={tmp_path / 'results'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode != 0
    assert "MLflow tracking server http://127.0.0.1:9 (MLFLOW_TRACKING_URI) is unreachable" in run.stdout + run.stderr
    assert not (tmp_path / "results" / "data").exists()


def test_failing_mlflow_never_fails_the_job(tmp_path, monkeypatch, caplog):
    (tmp_path / "not-a-dir").write_text("")  # the store's parent "directory" is a file
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/not-a-dir/mlflow.db")
    output = tmp_path / "result.txt"
    with tracking.job_run("some_rule", {"a": 1}, {"experiment": "x"}, str(tmp_path)) as run:
        output.write_text("precious")
        run.log_metrics({"m": 1.0})
        run.log_params({"p": 1})
        run.log_artifact(output)
    assert output.read_text() == "precious"
    assert "outputs are unaffected" in caplog.text


def _log_from_job(results_dir: str, index: int) -> None:
    with tracking.job_run("parallel", {"job": index}, {"experiment": "parallel"}, results_dir) as run:
        for step in range(25):
            run.log_metrics({"loss": 1.0 / (step + 1), "other": float(index)}, step=step)


def test_parallel_jobs_lose_no_run_or_metric(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    results = str(tmp_path)
    tracking.start_parent_run({"experiment": "parallel"}, results, str(ROOT))  # schema created once
    ctx = multiprocessing.get_context("spawn")
    jobs = [ctx.Process(target=_log_from_job, args=(results, i)) for i in range(4)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=300)
        assert job.exitcode == 0
    client = tracking._client(tracking.tracking_uri(results))
    experiment = client.get_experiment_by_name("parallel")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.rule = 'parallel'")
    assert len(runs) == 4
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 25


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_killed_training_resumes_from_last_checkpoint(tiny_model, tmp_path):
    """Kill fairseq-train after its first checkpoint; the rerun continues from it."""
    cfg = dict(
        arch="transformer",
        embed_dim=32,
        ffn_dim=64,
        layers=1,
        heads=2,
        dropout=0.0,
        label_smoothing=0.0,
        lr=0.003,
        warmup_updates=10,
        max_tokens=200,
        max_update=120,
        patience=50,
        clip_norm=1.0,
    )
    save_dir, log = tmp_path / "ckpt", tmp_path / "train.log"
    script = (
        f"from pathlib import Path; from unlearn_study.backends.fairseq import training; "
        f"training.train({cfg!r}, Path({str(tiny_model.data_dir)!r}), Path({str(save_dir)!r}), 1, "
        f"Path({str(tmp_path / 'model.pt')!r}), Path({str(tmp_path / 'training.json')!r}), Path({str(log)!r}), "
        "device='cpu')"
    )
    first = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.time() + 240
    while not (save_dir / "checkpoint_last.pt").exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    assert first.poll() is None, "training finished before it could be interrupted"
    time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert not (tmp_path / "model.pt").exists()  # no final output from a killed job

    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    text = log.read_text()  # both runs' fairseq output
    assert "Loaded checkpoint" in text
    assert text.count("begin training epoch 1\n") == 1  # the second run did not start over
    import json

    summary = json.loads((tmp_path / "training.json").read_text())
    assert [e["epoch"] for e in summary["epochs"]] == list(range(1, summary["epochs_trained"] + 1))
    assert summary["updates"] == 120 and summary["stopped_by"] == "max_update"
    assert summary["best_valid_loss"] == min(e["valid_loss"] for e in summary["epochs"])


def test_training_says_why_it_stopped():
    from unlearn_study.backends.fairseq.training import stopping

    epochs = [{"epoch": 1, "train_num_updates": 40.0}, {"epoch": 2, "train_num_updates": 80.0}]
    log = "... | INFO | fairseq_cli.train | early stop since valid performance hasn't improved for last 2 runs\n"
    assert stopping(log, epochs, max_update=1000) == "patience"
    assert stopping("done training", epochs, max_update=80) == "max_update"
    assert stopping("killed", epochs, max_update=1000) == "unknown"


def test_stale_base_evaluation_is_refused_with_a_clear_error(tmp_path):
    """An unlearning job reads the shared step-0 values only if they cover exactly its rows."""
    import pandas as pd

    from unlearn_study.study import evaluation

    population = pd.DataFrame({"example_id": ["p0", "p1"]})
    test, retain = pd.DataFrame({"pair_id": [10, 11]}), pd.DataFrame({"pair_id": [20]})
    base = pd.DataFrame(
        {
            "part": ["population_id"] * 2 + ["test"] * 2 + ["retain"],
            "id": ["p0", "p1", "10", "11", "20"],
            "bpt": [1.0, 2.0, 3.0, 4.0, 5.0],
            "hypothesis": [None, None, "a", "b", None],
        }
    )
    path = tmp_path / "base_evaluation.parquet"
    base.to_parquet(path)
    parts = {"population_id": (population, "example_id"), "test": (test, "pair_id"), "retain": (retain, "pair_id")}
    values = evaluation.read_base_evaluation(path, parts, "id")
    assert values.population_bpt["id"].tolist() == [1.0, 2.0] and values.hypotheses == ["a", "b"]
    parts["retain"] = (pd.DataFrame({"pair_id": [21]}), "pair_id")  # e.g. a different retain sample
    with pytest.raises(ValueError, match="part 'retain' does not hold the rows this job evaluates"):
        evaluation.read_base_evaluation(path, parts, "id")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_fails_before_training():
    from unlearn_study.backends.fairseq import run as fairseq_run

    with pytest.raises(RuntimeError, match="model.device is 'cuda' but torch sees no CUDA device"):
        fairseq_run.device_flags("cuda")
    assert fairseq_run.device_flags("auto") == ["--cpu"] and fairseq_run.torch_device("auto") == "cpu"
