"""MLflow tracking: one experiment per config, one run per ``snakemake`` invocation, one
run per job linked to it by the tag ``invocation_run_id``.

Job runs are not MLflow child runs (``mlflow.parentRunId``): the UI lists children under a
collapsed parent and leaves them out of its charts (see :mod:`unlearn_study.reporting.mlflow_view`). Every run
carries the environment that decides reproducibility as ``env.*`` tags
(:func:`environment`).

Default store: ``sqlite:///<results>/mlflow.db`` (the ./mlruns file store is refused by
recent MLflow). ``MLFLOW_TRACKING_URI`` overrides it, e.g. a tracking server on a
cluster. Logging never decides a job's fate: once a job's outputs are written, a
failure inside MLflow is reported in the job log and the outputs stay.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import logging
import math
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from unlearn_study.infra.provenance import stable_hash

log = logging.getLogger(__name__)

PARENT_RUN_FILE = ".mlflow_parent_run"
INVOCATION_TAG = "invocation_run_id"  # on job runs: the run id of their snakemake invocation
ENV_TAG_PREFIX = "env."
# Packages whose versions change numbers (torch kernels, fairseq's model and generator,
# sacrebleu's tokenisation, ...); missing ones are recorded as "not installed".
ENV_PACKAGES = {
    "torch": "torch",
    "numpy": "numpy",
    "fairseq": "fairseq-fixed",
    "sacrebleu": "sacrebleu",
    "sentencepiece": "sentencepiece",
    "scipy": "scipy",
    "scikit_learn": "scikit-learn",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "mlflow": "mlflow",
    "snakemake": "snakemake",
}
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "ATEN_CPU_CAPABILITY",
    "CUDA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
)


class TrackingError(RuntimeError):
    """The tracking store cannot be used; raised before any job runs."""


def tracking_uri(results_dir: str) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{results_dir}/mlflow.db"


def git_commit(repo_dir: str | os.PathLike = ".") -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, timeout=10, check=False
        )
        commit = out.stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_dir,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("-dirty" if dirty else "")) if commit else "unknown"


def _cpu_info(path: str = "/proc/cpuinfo") -> tuple[str, list[str]]:
    """(model name, sorted instruction-set flags) of the first CPU listed in ``path``."""
    model, flags = "unknown", []
    with contextlib.suppress(OSError):
        for line in Path(path).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "cpu model") and model == "unknown":
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = sorted(set(value.split()))
            if model != "unknown" and flags:
                break
    return model or platform.processor() or "unknown", flags


def _torch_environment() -> dict[str, str]:
    """torch's threads, kernels and device, where this process uses torch: a stage that
    computes nothing with torch does not pay for importing it to describe it."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {"device": "not used (torch not imported)"}
    env = {
        "torch_num_threads": str(torch.get_num_threads()),
        "torch_num_interop_threads": str(torch.get_num_interop_threads()),
    }
    with contextlib.suppress(Exception):
        env["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    if torch.cuda.is_available():
        env["device"] = f"cuda ({torch.cuda.get_device_name(0)}; {torch.cuda.device_count()} visible)"
        env["cuda"] = str(torch.version.cuda)
        env["cudnn"] = str(torch.backends.cudnn.version())
    else:
        env["device"] = "cpu"
    return env


@functools.lru_cache(maxsize=1)
def _environment() -> tuple[tuple[str, str], ...]:
    model, flags = _cpu_info()
    env = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": model,
        "cpu_flags_sha256": hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16] if flags else "unknown",
        "cpu_flags": " ".join(flags) or "unknown",
        "cpu_count": str(os.cpu_count()),
        "cpu_affinity": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "unknown",
        "python": platform.python_version(),
        "python_executable": sys.executable,
    }
    for name, dist in ENV_PACKAGES.items():
        try:
            env[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            env[name] = "not installed"
    env.update(_torch_environment())
    env.update({name: os.environ.get(name, "unset") for name in THREAD_VARIABLES})
    return tuple(env.items())


def environment() -> dict[str, str]:
    """The environment that decides whether two runs give the same numbers, as strings.

    CPU model and instruction-set flags (sorted list and a SHA-256 prefix of it: torch
    picks its kernels by them), core counts, hostname, python and the versions of the
    packages that compute results, torch's intra-/inter-op thread counts and CPU kernel
    level, the thread variables (``OMP_NUM_THREADS``...) and the device ``auto`` would
    pick (where the process has imported torch). Computed once per process.
    """
    return dict(_environment())


def _env_tags() -> dict[str, str]:
    try:
        return {ENV_TAG_PREFIX + k: v[:5000] for k, v in environment().items()}
    except Exception as e:  # noqa: BLE001 - describing the environment never fails a job
        log.warning("MLflow: could not describe the environment: %s", e)
        return {}


def _describe_experiment(client, experiment_id: str, tags: dict) -> None:
    """Mark the experiment as model training and store the study view (:mod:`unlearn_study.reporting.mlflow_view`)."""
    from unlearn_study.reporting import mlflow_view  # the UI's view: the main process only, not the jobs

    for key, value in mlflow_view.tags_to_set(tags).items():
        _retry(client.set_experiment_tag, experiment_id, key, value)


def _retry(fn, *args, attempts: int = 6, **kwargs):
    """Call an MLflow client method, retrying while sqlite is locked by another job."""
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # MLflow wraps sqlite errors in several types
            if attempt == attempts - 1 or "locked" not in str(e).lower():
                raise
            time.sleep(0.5 * 2**attempt)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def init_tracking(uri: str, experiment: str, results_dir: str) -> str:
    """Check the store is reachable, create schema and experiment once; return its id.

    Runs once in the main Snakemake process, before parallel jobs: creating the sqlite
    schema from many processes at once fails.
    """
    if uri.startswith(("http://", "https://")):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10).read()
        except Exception as e:  # noqa: BLE001
            raise TrackingError(f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI) is unreachable: {e}") from None
    elif uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        client = _client(uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            # A server picks the location itself: with --serve-artifacts, its proxied
            # mlflow-artifacts:/<id>, which jobs on any machine upload to over HTTP.
            location = None
            if uri.startswith("sqlite:///"):
                location = (Path(results_dir).resolve() / "mlartifacts").as_uri()
            created = client.create_experiment(experiment, artifact_location=location)
            _describe_experiment(client, created, {})
            found = client.get_experiment(created)
        else:
            _describe_experiment(client, found.experiment_id, found.tags)
    except Exception as e:  # noqa: BLE001
        raise TrackingError(f"MLflow tracking store {uri} cannot be used: {e}") from None
    local_artifacts = urllib.parse.urlparse(found.artifact_location).scheme in ("", "file")
    if uri.startswith(("http://", "https://")) and local_artifacts:
        log.warning(
            "MLflow experiment %r keeps its artifacts in %s, a directory that jobs write to directly: "
            "jobs on machines that do not share it lose their artifacts. Start the server with "
            "--serve-artifacts --artifacts-destination DIR (and no --default-artifact-root) and use a "
            "new experiment name.",
            experiment,
            found.artifact_location,
        )
    return found.experiment_id


def start_parent_run(config: dict, results_dir: str, workflow_dir: str, command: str = "") -> str:
    """Open the run that groups this invocation's jobs; remember its id for the jobs."""
    uri = tracking_uri(results_dir)
    experiment_id = init_tracking(uri, config["experiment"], results_dir)
    client = _client(uri)
    run = client.create_run(
        experiment_id,
        run_name=f"snakemake {time.strftime('%Y-%m-%d %H:%M:%S')}",
        tags={
            "config_hash": stable_hash(config),
            "git_commit": git_commit(workflow_dir),
            "command": command,
            **_env_tags(),
        },
    )
    client.log_dict(run.info.run_id, config, "config.yaml")
    # With a tracking server nothing has created the results directory yet.
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    (Path(results_dir) / PARENT_RUN_FILE).write_text(run.info.run_id)
    return run.info.run_id


def end_parent_run(results_dir: str, success: bool) -> None:
    path = Path(results_dir) / PARENT_RUN_FILE
    if not path.exists():
        return
    with contextlib.suppress(Exception):
        _client(tracking_uri(results_dir)).set_terminated(path.read_text().strip(), "FINISHED" if success else "FAILED")


class JobRun:
    """A child run for one job. Every method logs a warning instead of raising, and
    does nothing when the run could not be created."""

    def __init__(self, client, run_id: str | None):
        self.client, self.run_id = client, run_id

    def _safe(self, what: str, method: str, *args, **kwargs) -> None:
        if self.run_id is None:
            return
        try:
            _retry(getattr(self.client, method), self.run_id, *args, **kwargs)
        except Exception as e:  # noqa: BLE001
            log.warning("MLflow: could not %s (outputs are unaffected): %s", what, e)

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        flat = [Param(k, str(v)[:6000]) for k, v in _flatten(params).items()]
        self._safe("log params", "log_batch", params=flat)

    def set_tags(self, tags: dict) -> None:
        from mlflow.entities import RunTag

        self._safe("set tags", "log_batch", tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [Metric(k, float(v), now, int(step)) for k, v in metrics.items() if v is not None]
        self._safe("log metrics", "log_batch", metrics=rows)

    def log_artifact(self, path, artifact_path: str | None = None) -> None:
        if Path(path).exists():
            self._safe(f"log artifact {path}", "log_artifact", str(path), artifact_path)

    def close(self, status: str) -> None:
        self._safe("close the run", "set_terminated", status)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def default_run_name(rule: str, wildcards: dict) -> str:
    """The rule followed by the wildcard values, e.g. ``train_model base 1``."""
    return " ".join([rule, *(str(v) for v in wildcards.values())])


@contextlib.contextmanager
def job_run(
    rule: str, wildcards: dict, config: dict, results_dir: str, workflow_dir: str = ".", run_name: str | None = None
):
    """The run of one job, linked to the current invocation's run, tagged for comparison in the UI.

    ``run_name`` is what the UI lists (e.g. ``unlearn gradient_ascent ood-repetition-16-r1 seed1``);
    by default :func:`default_run_name`.
    """
    run_id, client = None, None
    try:
        uri = tracking_uri(results_dir)
        client = _client(uri)
        experiment = _retry(client.get_experiment_by_name, config["experiment"])
        experiment_id = (
            experiment.experiment_id if experiment else init_tracking(uri, config["experiment"], results_dir)
        )
        parent = Path(results_dir) / PARENT_RUN_FILE
        tags = {
            "rule": rule,
            "wildcards": ",".join(f"{k}={v}" for k, v in sorted(wildcards.items())),
            "config_hash": stable_hash(config),
            "git_commit": git_commit(workflow_dir),
        }
        tags.update({f"wildcard.{k}": str(v) for k, v in wildcards.items()})
        if parent.exists():
            tags[INVOCATION_TAG] = parent.read_text().strip()
        tags.update(_env_tags())
        name = run_name or default_run_name(rule, wildcards)
        run_id = _retry(client.create_run, experiment_id, run_name=name, tags=tags).info.run_id
    except Exception as e:  # noqa: BLE001
        log.warning("MLflow: no run for this job (outputs are unaffected): %s", e)
    tracker = JobRun(client, run_id)
    status = "FAILED"
    try:
        yield tracker
        status = "FINISHED"
    finally:
        tracker.close(status)


def log_claims(results_dir: str, claims) -> None:
    """The claims table's verdicts (tags ``claim.<claim>.<method>.batch_<batch>.<kind>[.x<r>|.pooled].<rule>``,
    the insertion level for rows read at one; ``<key>.holm`` the Holm-adjusted verdict) and estimates and
    intervals (metrics) on this invocation's run, where a researcher compares studies."""
    path = Path(results_dir) / PARENT_RUN_FILE
    if not path.exists():
        return
    run = JobRun(_client(tracking_uri(results_dir)), path.read_text().strip())
    for r in claims.itertuples():
        level = (
            "" if r.repetitions == "all" else ".pooled" if r.repetitions.startswith("pooled") else f".x{r.repetitions}"
        )
        key = f"claim.{r.claim}.{r.method}.batch_{r.batch}.{r.kind.replace(' ', '_')}{level}.{r.rule.replace(' ', '_')}"
        run.set_tags({key: r.verdict, f"{key}.holm": r.verdict_holm})
        run.log_metrics(
            {f"{key}.{k}": getattr(r, k) for k in ("estimate", "low", "high") if math.isfinite(getattr(r, k))}
        )
