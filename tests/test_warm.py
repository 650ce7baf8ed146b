"""Warm workers (src/unlearn_study/infra/warm.py) on a real tiny fairseq checkpoint: a job
handed over runs in the worker's child with the model already loaded, exits with its own
status, shares the worker with the next job of the same model, and dies with its job
process. That the study's tables do not change is tests/test_pipeline.py's
test_warm_workers_change_no_table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unlearn_study.backends.fairseq import scoring

JOB = """
import json, os, sys, time
from types import SimpleNamespace

from unlearn_study.infra import warm

checkpoint, data, report, warm_on, action = sys.argv[1:6]
smk = SimpleNamespace(config={"model": {"warm_worker": warm_on == "on"}})
warm.hand_to_worker(smk, checkpoint, data)

model = warm.load_model(checkpoint, data, "cpu")
checksum = float(sum(p.detach().double().sum() for p in model.model.parameters()))
import torch
product = torch.ones(512, 512) @ torch.ones(512, 512)  # a parallel region: hangs in a badly forked child
with open(report, "w") as out:
    json.dump({"pid": os.getpid(), "parent": os.getppid(), "in_worker": warm.in_worker(),
               "checksum": checksum, "argv": sys.argv[1:], "cwd": os.getcwd(), "threads": torch.get_num_threads(),
               "variable": os.environ.get("WARM_TEST_VARIABLE")}, out)
print("to the job's stdout")
if action == "sleep":
    time.sleep(120)
sys.exit(int(action) if action.isdigit() else 0)
"""


@pytest.fixture
def job(tmp_path, tiny_model):
    script = tmp_path / "job.py"
    script.write_text(JOB)

    def start(name: str, action: str = "0", warm_on: str = "on", variable: str = "x", threads: int = 1) -> tuple:
        report = tmp_path / f"{name}.json"
        process = subprocess.Popen(
            [sys.executable, script, tiny_model.checkpoint, tiny_model.data_dir, report, warm_on, action],
            cwd=tmp_path,
            env={**os.environ, "WARM_TEST_VARIABLE": variable, "OMP_NUM_THREADS": str(threads)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return process, report

    return start


def read(report: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while not report.exists() or not report.read_text():
        assert time.monotonic() < deadline, f"no report at {report}"
        time.sleep(0.1)
    return json.loads(report.read_text())


def test_a_job_runs_in_the_worker_with_its_model_and_exits_with_its_status(job, tiny_model):
    first, first_report = job("first", action="3", variable="first")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 3, err
    assert "to the job's stdout" in out  # the child writes to the job process's streams
    ran = read(first_report)
    assert ran["in_worker"] and ran["pid"] != first.pid
    assert ran["argv"][-1] == "3" and ran["cwd"] == str(first_report.parent) and ran["variable"] == "first"
    fresh = scoring.load_model(tiny_model.checkpoint, tiny_model.data_dir, device="cpu")
    assert ran["checksum"] == float(sum(p.detach().double().sum() for p in fresh.model.parameters()))

    second, second_report = job("second", variable="second")
    second.communicate(timeout=300)
    assert second.returncode == 0
    again = read(second_report)
    assert again["parent"] == ran["parent"] and again["pid"] != ran["pid"]  # the same worker, a new child
    assert again["variable"] == "second" and again["checksum"] == ran["checksum"]


def test_without_workers_the_job_runs_in_its_own_process(job):
    process, report = job("own", warm_on="off")
    process.communicate(timeout=300)
    ran = read(report)
    assert process.returncode == 0 and ran["pid"] == process.pid and not ran["in_worker"]


def test_killing_the_job_process_kills_its_child(job):
    process, report = job("killed", action="sleep")
    child = read(report)["pid"]
    assert child != process.pid
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and "Z" not in Path(f"/proc/{child}/stat").read_text().split()[2]:
        assert time.monotonic() < deadline, "the child outlived its job process"
        time.sleep(0.1)


def test_a_child_runs_with_the_jobs_threads(job):
    """A worker that entered an OpenMP parallel region would hang its children in their
    first one: it loads with one thread, and each child takes the job's threads."""
    process, report = job("threads", threads=2)
    process.communicate(timeout=300)
    ran = read(report)
    assert process.returncode == 0 and ran["in_worker"] and ran["threads"] == 2
