"""The tiny study on real services: an MLflow tracking server on 127.0.0.1,
and a single-node SLURM cluster driven through the project's own profile
(profiles/slurm). One local run (module fixture, logging to the server) is both the
server test's subject and the reference that the SLURM run must reproduce table for
table.

    .venv/bin/pytest -q -m server        # about 8 minutes on 2 cores
    .venv/bin/pytest -q -m slurm         # also the server and the local run: about 8

The SLURM tests need root and `apt-get install --no-install-recommends slurmctld
slurmd slurm-client munge`; elsewhere they skip (UNLEARN_REQUIRE_CLUSTER_TESTS=1, set
by .ci/run, makes that a failure). Nothing here names the pipeline's rules or counts
its jobs: both come from Snakemake's own log of each run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml
from local_cluster import MlflowServer, SlurmCluster

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
PROFILE = "profiles/slurm"
GROUP_SIZE = 4  # UNLEARN_SLURM_GROUP_SIZE of the SLURM run
# Result tables that may differ between two correct runs (timings, absolute paths),
# as globs relative to the results directory. None today: benchmarks are .tsv.
VOLATILE_TABLES: tuple[str, ...] = ()


@dataclass
class Job:
    jobid: str  # Snakemake's, in this run
    rule: str
    wildcards: tuple[str, ...]
    local: bool  # "localrule": run by the main Snakemake process itself
    outputs: list[str] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    group: int | None = None  # index into Run.groups: the group job it was submitted in
    slurm_id: str | None = None
    slurm_log: str | None = None

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.rule, self.wildcards


@dataclass
class Submission:
    """One `sbatch`: a job, or a group job (several jobs in one SLURM job)."""

    snakemake_id: str  # a job's id, or a group job's uuid
    slurm_id: str
    slurm_log: str


@dataclass
class Run:
    results: Path
    log: str
    jobs: list[Job]
    parent_run_id: str
    wall_s: float
    groups: list[list[Job]] = field(default_factory=list)  # one per "Group job" of the log
    submissions: list[Submission] = field(default_factory=list)
    override: Path | None = None  # the config file over config/tiny.yaml
    env: dict = field(default_factory=dict)
    args: tuple[str, ...] = ()  # Snakemake's options after the config files


def parse_jobs(log: str) -> tuple[list[Job], list[list[Job]]]:
    """The jobs of one Snakemake run and its group jobs, from its log: one block per job,
    starting with `rule NAME:` (submitted to an executor) or `localrule NAME:`; the jobs
    of a group job follow its `Group job NAME (jobs in lexicogr. order):` line, indented."""
    jobs: dict[str, Job] = {}
    groups: list[list[Job]] = []
    blocks = re.split(r"^(?=[ \t]*(?:local)?rule \w+:$|\[[^\]\n]*\] Group job )", log, flags=re.M)
    group = None
    for block in blocks[1:]:
        if block.startswith("["):  # a group job's first line
            groups.append([])
            group = len(groups) - 1
            continue
        head = re.match(r"([ \t]*)(local)?rule (\w+):", block)
        if not head.group(1):
            group = None  # an unindented job: outside any group
        jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M)
        if not jobid:
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        outputs = re.search(r"^\s+output: (.*)$", block, re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        job = jobs[jobid.group(1)] = Job(
            jobid=jobid.group(1),
            rule=head.group(3),
            local=bool(head.group(2)),
            wildcards=tuple(sorted(w.strip() for w in wildcards.group(1).split(","))) if wildcards else (),
            outputs=outputs.group(1).split(", ") if outputs else [],
            resources=dict(r.split("=", 1) for r in resources.group(1).split(", ")) if resources else {},
            threads=int(threads.group(1)) if threads else 1,
            group=group,
        )
        if group is not None:
            groups[group].append(job)
    return list(jobs.values()), groups


def parse_submissions(log: str) -> list[Submission]:
    """Every sbatch of the run: the plugin logs one line per job or group job submitted."""
    return [
        Submission(*found)
        for found in re.findall(r"^Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.*)\)\.$", log, re.M)
    ]


def assign_slurm_ids(jobs: list[Job], submissions: list[Submission]) -> None:
    """Each job's SLURM job: its own submission (the log line names the job's id), or for a
    job of a group job the submission whose SLURM log (written on the node, where the
    group's jobs ran) shows that job's `output:` line."""
    single = {s.snakemake_id: s for s in submissions if s.snakemake_id.isdigit()}
    in_group_log = {}
    for s in submissions:
        if not s.snakemake_id.isdigit() and Path(s.slurm_log).exists():
            for line in re.findall(r"^\s*output: (.*)$", Path(s.slurm_log).read_text(), re.M):
                in_group_log.setdefault(line, s)
    for job in jobs:
        s = single.get(job.jobid) if job.group is None else in_group_log.get(", ".join(job.outputs))
        if s is not None:
            job.slurm_id, job.slurm_log = s.slurm_id, s.slurm_log


def working_jobs(run: Run) -> list[Job]:
    """Jobs that run code: all but pure targets such as `all` (no outputs)."""
    return [j for j in run.jobs if j.outputs]


def snakemake(results: Path, env: dict, *args: str, timeout: int) -> Run:
    override = results.parent / f"override-{results.name}.yaml"
    # model.device cpu: the GPU rules then ask for no GPU (the test cluster has none). One
    # method and one grouping: every rule still runs, with half the jobs (each SLURM job
    # costs about 12 s of start-up; tests/test_pipeline.py covers the whole tiny study).
    override.write_text(
        yaml.safe_dump(
            {
                "results_dir": str(results),
                "model": {"device": "cpu"},
                "unlearning": {"methods": ["gradient_ascent"]},
                "forget_sets": {"groupings": ["repetition"]},  # the audited grouping: audits run too
            }
        )
    )
    start = time.monotonic()
    proc = subprocess.run(
        [SNAKEMAKE, "--configfile", "config/tiny.yaml", str(override), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (results.parent / f"{results.name}.log").write_text(log)
    assert proc.returncode == 0, log[-8000:]
    parent = (results / ".mlflow_parent_run").read_text().strip()
    jobs, groups = parse_jobs(log)
    submissions = parse_submissions(log)
    assign_slurm_ids(jobs, submissions)
    return Run(results, log, jobs, parent, wall, groups, submissions, override, env, args)


def clean_env(**extra: str) -> dict:
    """This environment without anything that would steer SLURM, the profile or MLflow."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "UNLEARN_SLURM_", "MLFLOW_"))
    }
    env.update(extra)
    return env


def print_wall(config, what: str, seconds: float) -> None:
    """Straight to the terminal (fixtures' output is otherwise captured)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n[test_cluster] {what}: {seconds:.0f} s")


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(pytestconfig, tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow_server"))
    start = time.monotonic()
    server.start()
    print_wall(pytestconfig, "mlflow server start", time.monotonic() - start)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def local_run(mlflow_server, pytestconfig, tmp_path_factory) -> Run:
    """The tiny study on this machine (profiles/default), logging to the server."""
    results = tmp_path_factory.mktemp("local") / "results"
    run = snakemake(results, clean_env(MLFLOW_TRACKING_URI=mlflow_server.uri), timeout=1800)
    print_wall(pytestconfig, "local tiny run", run.wall_s)
    return run


@pytest.fixture(scope="module")
def slurm_cluster(pytestconfig, tmp_path_factory):
    SlurmCluster.check_available()
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    start = time.monotonic()
    cluster.start()
    print_wall(pytestconfig, "slurm cluster start", time.monotonic() - start)
    yield cluster
    cluster.cancel_all()
    cluster.stop()


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, mlflow_server, local_run, pytestconfig, tmp_path_factory) -> Run:
    """The same study submitted through profiles/slurm. The site settings come from the
    environment the profile reads; the status options are this cluster's (no
    accounting database: squeue; short jobs: poll after 1 s instead of 40)."""
    base = tmp_path_factory.mktemp("slurm_run")
    c = slurm_cluster
    mem = str(max(500, c.memory_mb // (2 * c.cpus)))  # CPUs, not memory, limit how many jobs run at once
    env = clean_env(
        SLURM_CONF=str(c.conf),
        MLFLOW_TRACKING_URI=mlflow_server.uri,
        UNLEARN_SLURM_PARTITION=c.PARTITION,
        UNLEARN_SLURM_GPU_PARTITION=c.GPU_PARTITION,
        UNLEARN_SLURM_MEM_MB=mem,
        UNLEARN_SLURM_TRAIN_MEM_MB=mem,
        # groups of 4: the tiny study's 12 select_forget_set and 12 unlearn jobs go in 3
        # submissions each (the default, 24, would put each rule's jobs into one)
        UNLEARN_SLURM_GROUP_SIZE=str(GROUP_SIZE),
    )
    run = snakemake(
        base / "results",
        env,
        "--workflow-profile",
        PROFILE,
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--slurm-logdir",
        str(base / "slurm_logs"),
        "--slurm-keep-successful-logs",
        timeout=2700,
    )
    print_wall(pytestconfig, "SLURM tiny run", run.wall_s)
    return run


def children(client, run: Run):
    """The invocation's run and its jobs' runs (linked by the tag tracking names)."""
    from unlearn_study.infra import tracking

    link = getattr(tracking, "INVOCATION_TAG", "mlflow.parentRunId")
    parent = client.get_run(run.parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`{link}` = '{run.parent_run_id}'", max_results=10000
    )
    return parent, runs


def run_key(mlflow_run) -> tuple[str, tuple[str, ...]]:
    wildcards = mlflow_run.data.tags.get("wildcards", "")
    return mlflow_run.data.tags["rule"], tuple(sorted(w for w in wildcards.split(",") if w))


def effective_config(client, run: Run, tmp: Path) -> dict:
    """The config the run used, as its parent run logged it (downloaded from the server)."""
    return yaml.safe_load(Path(client.download_artifacts(run.parent_run_id, "config.yaml", str(tmp))).read_text())


# --- MLflow tracking server --------------------------------------------------------------


@pytest.mark.server
@pytest.mark.integration
def test_server_experiment_keeps_artifacts_on_the_server(local_run, mlflow_server):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    parent, runs = children(client, local_run)
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
    assert all(r.info.artifact_uri.startswith("mlflow-artifacts:") for r in [parent, *runs])
    # Uploaded through the server into its --artifacts-destination, nothing beside the results.
    assert (mlflow_server.artifacts / experiment.experiment_id / parent.info.run_id / "artifacts/config.yaml").exists()
    assert not list(local_run.results.rglob("mlartifacts")) and not (local_run.results / "mlflow.db").exists()
    assert "keeps its artifacts in" not in local_run.log


@pytest.mark.server
@pytest.mark.integration
def test_server_holds_one_finished_child_run_per_job(local_run, mlflow_server):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    parent, runs = children(client, local_run)
    assert parent.info.status == "FINISHED"
    assert Counter(run_key(r) for r in runs) == Counter(j.key for j in working_jobs(local_run))
    assert {r.info.status for r in runs} == {"FINISHED"}


@pytest.mark.server
@pytest.mark.integration
def test_server_has_every_per_step_metric(local_run, mlflow_server, tmp_path):
    """Training logs one point per epoch (1..n), unlearning one per evaluated step. A
    metric may start later (fairseq's valid_best_loss from epoch 2) but never repeats a
    step or logs one outside them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    eval_steps = sorted(effective_config(client, local_run, tmp_path)["unlearning"]["eval_steps"])
    _, runs = children(client, local_run)
    stepped = Counter()
    for r in runs:
        histories = {k: client.get_metric_history(r.info.run_id, k) for k in r.data.metrics}
        per_step = {k: sorted(m.step for m in h) for k, h in histories.items() if len(h) > 1}
        assert all(len(set(steps)) == len(steps) for steps in per_step.values()), (run_key(r), per_step)
        rule = r.data.tags["rule"]
        if rule == "train_model":
            epochs = max((max(steps) for steps in per_step.values()), default=0)
            expected = list(range(1, epochs + 1))
        elif rule == "unlearn":
            # full evaluations: the schedule, plus the first step each rule of unlearnt is met
            expected = list(range(max(eval_steps) + 1))
            assert all(set(eval_steps) <= set(steps) for steps in per_step.values()), (run_key(r), per_step)
        else:
            continue
        assert len(per_step) > 1, (run_key(r), per_step)
        assert all(set(steps) <= set(expected) for steps in per_step.values()), (run_key(r), per_step)
        stepped[rule] += 1
    jobs = Counter(j.rule for j in working_jobs(local_run))
    assert stepped == Counter({rule: jobs[rule] for rule in ("train_model", "unlearn")})


@pytest.mark.server
@pytest.mark.integration
def test_server_artifacts_are_the_jobs_files(local_run, mlflow_server, tmp_path):
    """Every job's log is on the server, and every other artifact, downloaded back through
    the server, is byte for byte one of that job's output files."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    _, runs = children(client, local_run)
    outputs = {j.key: j.outputs for j in working_jobs(local_run)}
    n_artifacts = 0
    for r in runs:
        names = {a.path for a in client.list_artifacts(r.info.run_id)}
        logs = {a.path for a in client.list_artifacts(r.info.run_id, "logs")} if "logs" in names else set()
        assert len(logs) == 1, (run_key(r), names)
        by_name = {Path(p).name: Path(p) for p in outputs[run_key(r)]}
        for name in names - {"logs"}:
            assert Path(name).name in by_name, (run_key(r), name)
            local_copy = Path(client.download_artifacts(r.info.run_id, name, str(tmp_path)))
            assert local_copy.read_bytes() == by_name[Path(name).name].read_bytes(), (run_key(r), name)
            n_artifacts += 1
        n_artifacts += len(logs)
    files = [p for p in mlflow_server.artifacts.rglob("*") if p.is_file()]
    assert n_artifacts >= len(runs) and len(files) >= n_artifacts


def test_init_tracking_warns_when_a_server_keeps_artifacts_locally(monkeypatch, caplog):
    """A server started with a local --default-artifact-root hands out paths that jobs on
    other machines cannot write to: init_tracking says so."""
    from types import SimpleNamespace

    from unlearn_study.infra import tracking

    class Client:
        def get_experiment_by_name(self, name):
            return SimpleNamespace(experiment_id="7", artifact_location="/srv/mlflow/mlruns/7", tags={})

        def set_experiment_tag(self, *args):
            pass

    monkeypatch.setattr(tracking, "_client", lambda uri: Client())
    monkeypatch.setattr(tracking.urllib.request, "urlopen", lambda *a, **k: SimpleNamespace(read=lambda: b"OK"))
    assert tracking.init_tracking("http://mlflow.example:5000", "study", "results") == "7"
    assert "--serve-artifacts" in caplog.text
    caplog.clear()
    Client.get_experiment_by_name = lambda self, name: SimpleNamespace(
        experiment_id="7", artifact_location="mlflow-artifacts:/7", tags={}
    )
    tracking.init_tracking("http://mlflow.example:5000", "study", "results")
    assert not caplog.text


# --- SLURM -------------------------------------------------------------------------------


def mem_mb(tres: str) -> int:
    """The memory of a SLURM job's TRES string (`cpu=1,mem=6026M,node=1`), in MB."""
    value = re.search(r"(?:^|,)mem=([\d.]+)([MGT])", tres)
    return round(float(value.group(1)) * {"M": 1, "G": 1024, "T": 1024**2}[value.group(2)])


@pytest.mark.slurm
@pytest.mark.integration
def test_slurm_every_job_ran_under_slurm_grouped(slurm_run, slurm_cluster, local_run):
    """Every job ran in a SLURM job, several to one SLURM job where the profile groups
    them: one sbatch per group job and per job outside groups, each asking for what one
    of its jobs needs (they run one after another) and for the sum of their wall times."""
    jobs = working_jobs(slurm_run)
    assert Counter(j.key for j in jobs) == Counter(j.key for j in working_jobs(local_run))
    assert all(not j.local and j.slurm_id for j in jobs), [j.key for j in jobs if j.local or not j.slurm_id]
    # Grouping happened: group jobs of several jobs, a group split into several submissions
    # (group-components), and fewer submissions than jobs.
    groups, submissions = slurm_run.groups, slurm_run.submissions
    assert groups and max(len(g) for g in groups) > 1
    assert max(Counter(frozenset(j.rule for j in g) for g in groups).values()) > 1
    single = [j for j in jobs if j.group is None]
    assert len(submissions) == len(groups) + len(single) < len(jobs)
    ids = [s.slurm_id for s in submissions]
    assert len(set(ids)) == len(ids) == len({j.slurm_id for j in jobs})
    # a group's jobs share its SLURM job, no other job does
    for g in groups:
        assert len({j.slurm_id for j in g}) == 1, [j.key for j in g]
    assert len({j.slurm_id for j in single}) == len(single)
    assert not {j.slurm_id for j in single} & {g[0].slurm_id for g in groups}

    history = slurm_cluster.jobs()  # the job completion log
    queue = slurm_cluster.squeue()  # slurmctld's memory (MinJobAge)
    run_uuid = re.search(r"^SLURM run ID: (\S+)$", slurm_run.log, re.M).group(1)
    assert {i for i, f in history.items() if f["Name"] == run_uuid} == set(ids)
    assert {i for i, f in queue.items() if f["Name"] == run_uuid} == set(ids)
    for j in jobs:
        assert history[j.slurm_id]["JobState"] == queue[j.slurm_id]["JobState"] == "COMPLETED", j.key
        # GPU rules (they declare a gpu resource) go to the GPU partition, and ask for
        # no GPU since model.device is cpu.
        partition = slurm_cluster.GPU_PARTITION if "gpu" in j.resources else slurm_cluster.PARTITION
        assert history[j.slurm_id]["Partition"] == queue[j.slurm_id]["Partition"] == partition, j.key
        assert j.resources.get("gpu", "0") == "0" and "gpu" not in history[j.slurm_id]["Tres"], j.key
        # the job's own log, written on the node: the job ran the rule there
        slurm_log = Path(j.slurm_log).read_text()
        assert Path(j.slurm_log).stem == j.slurm_id and re.search(rf"^\s*rule {j.rule}:$", slurm_log, re.M), j.key
        assert re.search(rf"^\s*output: {re.escape(', '.join(j.outputs))}$", slurm_log, re.M), j.key
    assert {j.rule for j in jobs if "gpu" in j.resources}, "no job declared a GPU"
    # What each sbatch asked for: the CPUs (whole cores) and memory of its largest job, not
    # the sum over a group, and the sum of its jobs' wall times.
    per_core = slurm_cluster.threads_per_core
    for members in [*groups, *([j] for j in single)]:
        slurm_job = history[members[0].slurm_id]
        cpus = -(-max(j.threads for j in members) // per_core) * per_core
        assert int(slurm_job["ProcCnt"]) == cpus, [j.key for j in members]
        assert mem_mb(slurm_job["Tres"]) == max(int(j.resources["mem_mb"]) for j in members)
        assert int(slurm_job["TimeLimit"]) == sum(int(j.resources["runtime"]) for j in members)


@pytest.mark.slurm
@pytest.mark.integration
def test_slurm_new_forget_set_schedules_only_its_jobs_grouped(slurm_run, tmp_path):
    """Grouping leaves caching per job: after the SLURM run, one more replicate per bucket
    (a dry run through the profile) schedules the new forget sets' jobs, in groups, plus
    the jobs that read every forget set; none of the jobs run in groups before."""
    override = yaml.safe_load(slurm_run.override.read_text())
    replicates = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())["forget_sets"]["replicates"]
    override["forget_sets"]["replicates"] = replicates + 1
    more = tmp_path / "more.yaml"
    more.write_text(yaml.safe_dump(override))
    proc = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", "config/tiny.yaml", str(more), *slurm_run.args],
        cwd=ROOT,
        env=slurm_run.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-8000:]
    jobs, groups = parse_jobs(proc.stdout + proc.stderr)
    scheduled = [j for j in jobs if j.outputs]
    before = {j.key for j in working_jobs(slurm_run)}
    grouped_before = {j.key for j in working_jobs(slurm_run) if j.group is not None}
    new = [j for j in scheduled if j.key not in before]
    again = [j for j in scheduled if j.key in before]
    assert new and all(j.group is not None for j in new), [j.key for j in new if j.group is None]
    assert len(groups) < len(new)
    assert not {j.key for j in again} & grouped_before, [j.key for j in again]
    assert len(again) < len(new)


@pytest.mark.slurm
@pytest.mark.integration
def test_slurm_tables_equal_the_local_run(slurm_run, local_run):
    def tables(results: Path) -> dict[Path, Path]:
        found = {p.relative_to(results): p for p in results.rglob("*.parquet")}
        return {rel: p for rel, p in found.items() if not any(rel.match(g) for g in VOLATILE_TABLES)}

    local, slurm = tables(local_run.results), tables(slurm_run.results)
    assert sorted(slurm) == sorted(local) and local
    differ = [str(rel) for rel in local if not pd.read_parquet(local[rel]).equals(pd.read_parquet(slurm[rel]))]
    assert not differ, f"{len(differ)} of {len(local)} tables differ: {differ}"


@pytest.mark.slurm
@pytest.mark.server
@pytest.mark.integration
def test_slurm_jobs_logged_to_the_server(slurm_run, local_run, mlflow_server):
    """Jobs on the compute node reach the tracking server like local ones."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    parent, runs = children(client, slurm_run)
    assert parent.info.status == "FINISHED"
    assert Counter(run_key(r) for r in runs) == Counter(j.key for j in working_jobs(slurm_run))
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all(r.info.artifact_uri.startswith("mlflow-artifacts:") for r in runs)
