"""What the MLflow UI shows: run names, flat job runs, environment tags, the study view, and
the UI server's own REST endpoints on a finished tiny run."""

import importlib.util
import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import torch  # noqa: F401  (the environment describes torch where a process uses it, as every model job does)
from conftest import FORGET_SETS, METHODS

from unlearn_study.infra import tracking
from unlearn_study.reporting import mlflow_view

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mlflow_screenshot", ROOT / "tools" / "mlflow_screenshot.py")
mlflow_screenshot = importlib.util.module_from_spec(_spec)  # tools/ is not a package
_spec.loader.exec_module(mlflow_screenshot)


def test_environment_describes_cpu_threads_and_versions():
    env = tracking.environment()
    for key in (
        "hostname",
        "cpu_model",
        "cpu_flags",
        "cpu_flags_sha256",
        "python",
        "torch",
        "numpy",
        "fairseq",
        "sacrebleu",
        "torch_num_threads",
        "torch_num_interop_threads",
        "OMP_NUM_THREADS",
        "device",
    ):
        assert env[key], key
    assert all(isinstance(v, str) for v in env.values())
    assert env["torch"].startswith("2.13.0") and env["fairseq"] == "0.12.3.1"
    assert int(env["torch_num_threads"]) >= 1
    env["hostname"] = "changed"
    assert tracking.environment()["hostname"] != "changed"  # a copy each time


def test_cpu_flags_are_sorted_and_hashed(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: sse2 avx fpu avx\n\n"
        "processor\t: 1\nmodel name\t: Some CPU\nflags\t\t: sse2 avx fpu avx\n"
    )
    assert tracking._cpu_info(str(cpuinfo)) == ("Some CPU", ["avx", "fpu", "sse2"])
    assert tracking._cpu_info(str(tmp_path / "missing"))[1] == []


def test_default_run_name_is_rule_and_wildcard_values():
    assert tracking.default_run_name("train_model", {"model": "base", "seed": 1}) == "train_model base 1"
    assert tracking.default_run_name("summarise", {}) == "summarise"


def _runs(results: Path, experiment: str):
    client = tracking._client(tracking.tracking_uri(str(results)))
    found = client.get_experiment_by_name(experiment)
    return client, found, client.search_runs([found.experiment_id])


def test_job_runs_are_named_flat_linked_and_carry_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = {"experiment": "ui"}
    parent = tracking.start_parent_run(config, str(tmp_path), str(ROOT))
    with tracking.job_run(
        "unlearn",
        {"method": "npo", "forget_set": "ood-repetition-16-r1"},
        config,
        str(tmp_path),
        run_name="unlearn npo ood-repetition-16-r1 seed1",
    ) as run:
        run.log_metrics({"genex_mean": 1.0}, step=0)
    with tracking.job_run("train_model", {"model": "base", "seed": 1}, config, str(tmp_path)):
        pass
    tracking.end_parent_run(str(tmp_path), success=True)
    _, experiment, runs = _runs(tmp_path, "ui")
    by_name = {r.info.run_name: r for r in runs}
    assert len(by_name) == 3 and by_name.keys() >= {"unlearn npo ood-repetition-16-r1 seed1", "train_model base 1"}
    assert [n for n in by_name if n.startswith("snakemake ")] == [by_name_of(runs, parent)]
    for r in runs:
        assert "mlflow.parentRunId" not in r.data.tags  # nested runs are hidden in the UI's charts
        assert r.data.tags["env.cpu_flags_sha256"] == tracking.environment()["cpu_flags_sha256"]
        assert r.data.tags["env.torch_num_threads"] == tracking.environment()["torch_num_threads"]
    jobs = [r for r in runs if r.info.run_id != parent]
    assert {r.data.tags[tracking.INVOCATION_TAG] for r in jobs} == {parent}
    assert by_name["train_model base 1"].data.tags["wildcard.model"] == "base"
    assert experiment.tags[mlflow_view.EXPERIMENT_KIND_TAG] == "custom_model_development"
    view = json.loads(experiment.tags[mlflow_view.SHARED_VIEW_TAG_PREFIX + mlflow_view.VIEW_KEY])
    assert view["groupBy"]["groupByKeys"] == [
        {"mode": "param", "groupByData": "kind"},
        {"mode": "param", "groupByData": "method"},
    ]
    assert [c["metricKey"] for c in view["compareRunCharts"]] == ["genex_mean", "bleu"]


def by_name_of(runs, run_id: str) -> str:
    return next(r.info.run_name for r in runs if r.info.run_id == run_id)


def test_a_kind_someone_chose_is_kept():
    chosen = {mlflow_view.EXPERIMENT_KIND_TAG: "genai_development"}
    assert mlflow_view.EXPERIMENT_KIND_TAG not in mlflow_view.tags_to_set(chosen)
    assert mlflow_view.tags_to_set(mlflow_view.experiment_tags()) == {}


def test_ui_url_opens_model_training_charts_with_the_view():
    url = mlflow_view.ui_url("http://127.0.0.1:5000/", "7")
    path, _, query = url.partition("?")
    assert path == "http://127.0.0.1:5000/#/experiments/7/runs"
    assert urllib.parse.parse_qs(query) == {
        "workflowType": ["machine_learning"],
        "compareRunsMode": ["CHART"],
        "viewStateShareKey": ["study"],
    }


# --- the UI server on a finished tiny run ---------------------------------------------------


@pytest.fixture(scope="module")
def ui(tiny_run):
    uri = f"sqlite:///{tiny_run / 'mlflow.db'}"
    with mlflow_screenshot.mlflow_server(uri, mlflow_screenshot.free_port()) as base:
        yield base


def _get(base: str, path: str, **query):
    url = f"{base}/ajax-api/2.0/mlflow/{path}?{urllib.parse.urlencode(query, doseq=True)}"
    with urllib.request.urlopen(url, timeout=60) as reply:
        return json.load(reply)


def _post(base: str, path: str, body: dict):
    request = urllib.request.Request(
        f"{base}/ajax-api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)


@pytest.mark.integration
def test_ui_serves_the_study_view_unlearning_runs_and_step_histories(ui):
    with urllib.request.urlopen(ui + "/", timeout=60) as page:  # the web app itself
        assert page.status == 200 and b"<html" in page.read().lower()
    experiment = _get(ui, "experiments/get-by-name", experiment_name="tiny")["experiment"]
    tags = {t["key"]: t["value"] for t in experiment.get("tags", [])}
    assert tags[mlflow_view.EXPERIMENT_KIND_TAG] == "custom_model_development"
    view = json.loads(tags[mlflow_view.SHARED_VIEW_TAG_PREFIX + mlflow_view.VIEW_KEY])

    # the request the runs page sends for the stored view
    found = _post(
        ui,
        "runs/search",
        {
            "experiment_ids": [experiment["experiment_id"]],
            "filter": view["searchFilter"],
            "run_view_type": "ACTIVE_ONLY",
            "max_results": 100,
            "order_by": ["attributes.start_time DESC"],
        },
    )
    runs = found["runs"]
    assert len(runs) == len(FORGET_SETS) * len(METHODS) > 0  # one per forget set and method
    params = [{p["key"]: p["value"] for p in r["data"]["params"]} for r in runs]
    assert {p["kind"] for p in params} == {"id", "ood"}  # the view's "Group by: kind, method"
    for r, p in zip(runs, params):
        tags = {t["key"]: t["value"] for t in r["data"]["tags"]}
        assert "mlflow.parentRunId" not in tags and tags[tracking.INVOCATION_TAG]
        assert tags["mlflow.runName"].startswith("unlearn ") and p["forget_set"] in tags["mlflow.runName"]
        assert tags["env.cpu_flags_sha256"] and tags["env.torch_num_threads"]
        metrics = {m["key"] for m in r["data"]["metrics"]}
        assert {"genex_mean", "bleu"} <= metrics

    # the requests the charts send: one history per run and metric, and the bulk form
    ids = [r["info"]["run_id"] for r in runs]
    for metric in ("genex_mean", "bleu"):
        # full evaluations: the schedule (0, 3, 6), plus the first step each rule of unlearnt is met
        history = _get(ui, "metrics/get-history", run_uuid=ids[0], metric_key=metric)["metrics"]
        first = [m["step"] for m in history]
        assert first == sorted(set(first)) and {0, 3, 6} <= set(first) <= set(range(7))
        bulk = _get(ui, "metrics/get-history-bulk-interval", run_ids=ids, metric_key=metric, max_results=320)
        steps = {}
        for m in bulk["metrics"]:
            steps.setdefault(m["run_id"], []).append(m["step"])
        assert set(steps) == set(ids) and steps[ids[0]] == first
        assert all({0, 3, 6} <= set(s) <= set(range(7)) for s in steps.values())
