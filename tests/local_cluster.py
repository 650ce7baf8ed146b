"""Throw-away services for the end-to-end tests in test_cluster.py: a single-node SLURM
cluster and an MLflow tracking server, both on 127.0.0.1, both stopped by the pids they
write (never by name).

SLURM needs root and Debian's packages (`apt-get install --no-install-recommends
slurmctld slurmd slurm-client munge`, SLURM 22.05); no systemd, no cgroups, no
accounting database. Where they are missing the tests skip, unless
UNLEARN_REQUIRE_CLUSTER_TESTS=1 (set by .ci/run) turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REQUIRE_ENV = "UNLEARN_REQUIRE_CLUSTER_TESTS"
SLURM_BINARIES = (
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scontrol",
    "scancel",
    "sinfo",
    "srun",
    "munged",
    "munge",
    "unmunge",
    "runuser",
)


def unavailable(reason: str):
    """Skip, or fail where the environment promises the services (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: this test must run here)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_pid_file(pid_file: Path, timeout: float = 20) -> None:
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().split()[0])
    except (ValueError, IndexError):
        return
    _stop_pid(pid, timeout)


def _stop_pid(pid: int, timeout: float = 20) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_for(check, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s\n{tail}")


CONF_CACHE = Path("/run/slurm/conf")  # where a configless slurmd links its cached configuration


def _process_name(proc: Path) -> str:
    try:
        return (proc / "comm").read_text().strip()
    except OSError:  # the process ended meanwhile
        return ""


def _remove_stale_conf_cache() -> None:
    """A test cluster killed before its teardown (a cancelled CI job, a session that ended)
    leaves its configless slurmd's link behind; with no slurmd running it serves nobody."""
    if not CONF_CACHE.is_symlink():
        return
    if any(_process_name(pid) == "slurmd" for pid in Path("/proc").glob("[0-9]*")):
        return  # a live slurmd owns it: a real SLURM host, left alone
    print(f"[local_cluster] removing a stale {CONF_CACHE} -> {os.readlink(CONF_CACHE)} (no slurmd running)")
    CONF_CACHE.unlink()


class SlurmCluster:
    """slurmctld + slurmd on this machine, one node named after `hostname -s`, two
    partitions on it (`cpu`, the default, and `gpu`: the GPU rules' partition, without
    GPUs) so that a test can see which partition a job went to. Configuration, state,
    logs and the job completion log (jobcomp/filetxt: the job history, kept without an
    accounting database) live in `workdir`; SLURM_CONF points the clients at it.

    slurmd runs "configless" (it fetches the configuration from slurmctld and caches it
    under /run/slurm/conf): the jobstep plugin drops SLURM_CONF from the environment of
    the `srun` inside each job, which then finds the configuration only there (or in
    /etc/slurm/slurm.conf, which this class leaves alone)."""

    PARTITION, GPU_PARTITION = "cpu", "gpu"

    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.conf = self.dir / "slurm.conf"
        self.jobcomp = self.dir / "jobcomp.log"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self._munged_started = False
        self.node = ""
        self.cpus = 0
        self.memory_mb = 0
        self.threads_per_core = 1

    @staticmethod
    def check_available() -> None:
        if os.geteuid() != 0:
            unavailable("starting SLURM daemons needs root")
        missing = [b for b in SLURM_BINARIES if shutil.which(b) is None]
        if missing:
            unavailable(
                f"SLURM is not installed (missing {', '.join(missing)}; "
                "apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)"
            )
        if not Path("/etc/munge/munge.key").exists():
            unavailable("no munge key (/etc/munge/munge.key)")
        host = socket.gethostname().split(".")[0]
        try:
            socket.gethostbyname(host)
        except OSError:
            unavailable(f"this machine's host name {host!r} does not resolve (srun needs it; add it to /etc/hosts)")
        _remove_stale_conf_cache()
        for path in ("/etc/slurm/slurm.conf", CONF_CACHE):
            if os.path.lexists(path):
                unavailable(
                    f"this machine has a SLURM configuration already ({path}); "
                    "the test starts its own cluster only on a machine without one"
                )

    def _run(self, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc

    def _munge_works(self) -> bool:
        try:
            cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
            if cred.returncode != 0:
                return False
            return subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False

    def _start_munge(self) -> None:
        if self._munge_works():  # a munged is already running (a real SLURM host): use it
            return
        run_dir = Path("/run/munge")
        run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True, capture_output=True, timeout=30)
        self._munged_started = True
        _wait_for(self._munge_works, 20, "munged")

    def _hardware(self) -> tuple[str, str]:
        """The node line of `slurmd -C` (its hardware as SLURM counts it)."""
        out = self._run("slurmd", "-C").stdout
        node_line = next(line for line in out.splitlines() if line.startswith("NodeName="))
        fields = dict(f.split("=", 1) for f in node_line.split())
        self.cpus, self.memory_mb = int(fields["CPUs"]), int(fields["RealMemory"])
        self.threads_per_core = int(fields.get("ThreadsPerCore", 1))  # CR_Core allocates whole cores
        hardware = " ".join(f"{k}={v}" for k, v in fields.items() if k != "NodeName")
        return fields["NodeName"], hardware

    def write_config(self) -> None:
        for sub in ("state", "spool"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        host = socket.gethostname().split(".")[0]  # what slurmctld matches SlurmctldHost against
        _, hardware = self._hardware()
        self.node = host
        d = self.dir
        self.conf.write_text(f"""\
# Single-node test cluster written by tests/local_cluster.py
ClusterName=unlearntest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
# no systemd, no cgroups
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it one job takes the node's memory
DefMemPerCPU={max(100, self.memory_mb // max(1, self.cpus) // 2)}
SlurmctldParameters=enable_configless
# finished jobs stay visible to squeue for an hour (the plugin's squeue status
# command needs at least 3 x its first polling delay)
MinJobAge=3600
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
# job history without an accounting database: one line per finished job
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
NodeName={host} NodeAddr=127.0.0.1 {hardware} State=UNKNOWN
PartitionName={self.PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName={self.GPU_PARTITION} Nodes={host} MaxTime=INFINITE State=UP
""")

    def start(self) -> None:
        self.check_available()
        self.write_config()
        self._start_munge()
        self._run("slurmctld", "-f", str(self.conf))
        port = re.search(r"^SlurmctldPort=(\d+)$", self.conf.read_text(), re.M).group(1)
        self._run("slurmd", "--conf-server", f"127.0.0.1:{port}", "-N", self.node)

        def node_idle():
            out = self._run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.split()
            return out and all(state.startswith("idle") for state in out)

        try:
            _wait_for(node_idle, 60, "the SLURM node", self.dir / "slurmd.log")
        except RuntimeError:
            self.stop()
            raise

    def cancel_all(self) -> None:
        """Cancel whatever is still queued or running (a failed or timed-out test)."""
        if (self.dir / "slurmctld.pid").exists():
            active = self.squeue(active_only=True)
            if active:
                self._run("scancel", "--full", *active, check=False)

    def stop(self) -> None:
        _stop_pid_file(self.dir / "slurmd.pid")
        _stop_pid_file(self.dir / "slurmctld.pid")
        if CONF_CACHE.is_symlink() and str(os.readlink(CONF_CACHE)).startswith(str(self.dir)):
            CONF_CACHE.unlink()
        if self._munged_started:
            _stop_pid_file(Path("/run/munge/munged.pid"))
            self._munged_started = False

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job the cluster ran, by job id: the job completion log's fields
        (JobState, Partition, NodeList, Name, ...)."""
        if not self.jobcomp.exists():
            return {}
        jobs = {}
        for line in self.jobcomp.read_text().splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs

    def squeue(self, active_only: bool = False) -> dict[str, dict[str, str]]:
        """Jobs slurmctld still holds (finished ones for MinJobAge), by id."""
        states = "PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING" if active_only else "all"
        out = self._run("squeue", f"--states={states}", "--noheader", "--format=%i|%T|%P|%j").stdout
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: {"JobState": r[1], "Partition": r[2], "Name": r[3]} for r in rows}


class MlflowServer:
    """`mlflow server` on 127.0.0.1: sqlite backend, artifacts proxied by the server
    (--serve-artifacts) into `workdir/artifacts`. Its own process group, so that
    stopping it stops uvicorn's workers too."""

    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.artifacts = self.dir / "artifacts"
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = self.dir / "server.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        mlflow = str(Path(sys.executable).parent / "mlflow")
        return [
            mlflow,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.dir / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            str(self.artifacts),
            "--workers",
            "1",
        ]

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # MLflow 3's server otherwise also starts about 7 huey job-runner processes
        # (about 240 MB each) that outlive a stopped server.
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        env.pop("MLFLOW_TRACKING_URI", None)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

        def healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                return urllib.request.urlopen(self.uri + "/health", timeout=2).read() == b"OK"
            except OSError:
                return False

        try:
            _wait_for(healthy, 120, "mlflow server", self.log)
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this class started
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
