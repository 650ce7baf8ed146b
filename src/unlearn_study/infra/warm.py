"""Warm workers: the jobs that start from one model pay process start, imports and the
model load once per machine, not once per job.

Every job stays its own Snakemake job, cached on its own. A job that reads a model (rules
score_model, base_evaluation, unlearn) calls :func:`hand_to_worker` first thing: it finds
(or starts) the *worker* of its model on this machine and hands the job over. The worker
holds torch, fairseq and MLflow imported and the model loaded; for each job it forks a
child that runs the job's script again (same file, arguments, environment, working
directory and standard streams), where :func:`load_model` returns the loaded model at
once. Copy-on-write keeps the worker's model untouched by what a job does with its copy.
The job process only waits and exits with its child's status; if it is killed, its child
is killed too. On CPU the tables are bit-identical to those of a job run without a worker
(tests/test_warm.py).

A worker serves one model for one environment: its key holds the checkpoint (path, size,
mtime), the data directory, the Python executable, the library's source files, the
thread variables, ``CUDA_VISIBLE_DEVICES`` and ``SLURM_JOB_ID`` (a worker never serves
another SLURM job, whose cgroup and GPUs differ). It exits after ``UNLEARN_WARM_IDLE_S``
seconds (default 60) without a job. Where no worker can be reached the job runs in its
own process as before and says so on its stderr; config ``model.warm_worker: false`` turns
workers off. Inside a SLURM job step (the SLURM profile runs every job as one ``srun``
step, grouped or not) workers are off: the step's processes end with it, and a worker
left behind could hold the step open.

Forking a process that holds torch has two rules, both kept here: the worker never runs a
multi-threaded kernel (a child of a process that entered an OpenMP parallel region hangs
in its first one), so it loads with one thread and each child sets the job's threads; and
the worker never touches CUDA (it cannot be used in a forked child once initialised): it
loads on CPU and the child moves its copy to the job's device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

IDLE_S = float(os.environ.get("UNLEARN_WARM_IDLE_S", 60))
START_TIMEOUT_S = 600  # a worker's imports and model load
STARTED_VARIABLE = "UNLEARN_JOB_STARTED"  # the job process's start (Unix time), for its fixed cost
KEY_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "SLURM_JOB_ID",
    "PYTHONHASHSEED",
)
# What every job of a model imports: paid once by the worker. torch._dynamo is what
# torch.optim pulls in at a job's first optimiser step.
PRELOAD = (
    "pandas",
    "pyarrow.parquet",
    "sacrebleu",
    "mlflow",
    "mlflow.tracking",
    "torch._dynamo",
    "unlearn_study.infra.tracking",
    "unlearn_study.methods",
    "unlearn_study.metrics",
    "unlearn_study.study.evaluation",
    "unlearn_study.study.unlearning",
)
_HEADER = struct.Struct("!I")

_preloaded = None  # in a worker and its children: (checkpoint, data, LoadedModel on CPU)


class WorkerUnavailable(RuntimeError):
    """No worker could be reached or started; the job runs in its own process."""


def in_worker() -> bool:
    """Whether this process is a warm worker's child running a job."""
    return _preloaded is not None


def job_started() -> float:
    """Unix time at which this job's process started (the job process, not the worker's
    child that runs it)."""
    if STARTED_VARIABLE in os.environ:
        return float(os.environ[STARTED_VARIABLE])
    import psutil

    return psutil.Process().create_time()


def hand_to_worker(smk, checkpoint, data) -> None:
    """Hand this job to the warm worker of ``checkpoint`` and exit with the status of the
    job there. Returns (and the script goes on in this process) inside a worker's child,
    when workers are off, or when no worker can be reached."""
    if _preloaded is not None or not smk.config["model"]["warm_worker"]:
        return
    if "SLURM_STEP_ID" in os.environ:  # a SLURM job step: whatever it starts ends with it
        return
    os.environ.setdefault(STARTED_VARIABLE, repr(job_started()))
    try:
        conn = _connect(checkpoint, data)
    except WorkerUnavailable as problem:
        print(f"warm worker unavailable, running in this process: {problem}", file=sys.stderr)
        return
    request = pickle.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)})
    socket.send_fds(conn, [_HEADER.pack(len(request))], [0, 1, 2])
    conn.sendall(request)
    status = conn.recv(_HEADER.size)
    sys.exit(_HEADER.unpack(status)[0] if len(status) == _HEADER.size else "warm worker: the job's process died")


def load_model(checkpoint, data, device):
    """The model of ``checkpoint`` on ``device``: the worker's copy in a worker's child,
    else loaded from disk."""
    from unlearn_study.backends.fairseq import scoring

    if _preloaded is not None and _preloaded[:2] == (str(checkpoint), str(data)):
        import torch

        loaded = _preloaded[2]
        return dataclasses.replace(loaded, model=loaded.model.to(device), device=torch.device(device))
    return scoring.load_model(checkpoint, data, device=device)


# --- the job process's side ---------------------------------------------------------------


def worker_key(checkpoint, data) -> str:
    import unlearn_study

    package = Path(unlearn_study.__file__).parent
    sources = sorted((str(p.relative_to(package)), p.stat().st_mtime_ns) for p in package.rglob("*.py"))
    stat = Path(checkpoint).stat()
    described = [
        sys.executable,
        str(Path(checkpoint).resolve()),
        stat.st_size,
        stat.st_mtime_ns,
        str(Path(data).resolve()),
        sources,
        [os.environ.get(k) for k in KEY_VARIABLES],
    ]
    return hashlib.sha256(repr(described).encode()).hexdigest()[:20]


def _socket_dir() -> Path:
    # short: a Unix socket's path is limited to about 100 bytes
    path = Path(tempfile.gettempdir()) / f"unlearn-warm-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _try_connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
        return conn
    except OSError as problem:
        conn.close()
        if problem.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return None
        raise WorkerUnavailable(f"cannot connect to {path}: {problem}") from problem


def _connect(checkpoint, data) -> socket.socket:
    key = worker_key(checkpoint, data)
    directory = _socket_dir()
    path = directory / f"{key}.sock"
    conn = _try_connect(path)
    if conn is not None:
        return conn
    with open(directory / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one job starts the worker; the others wait for it
        conn = _try_connect(path)
        if conn is not None:
            return conn
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a worker that died
        worker_log = directory / f"{key}.log"
        with open(worker_log, "w") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", __name__, str(path), str(checkpoint), str(data)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # it outlives this job, to serve the next ones
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            conn = _try_connect(path)
            if conn is not None:
                return conn
            if worker.poll() is not None:
                tail = worker_log.read_text()[-2000:]
                raise WorkerUnavailable(f"the worker exited with status {worker.returncode}:\n{tail}")
            time.sleep(0.05)
        worker.kill()
        raise WorkerUnavailable(f"the worker did not start within {START_TIMEOUT_S} s (log: {worker_log})")


# --- the worker's side --------------------------------------------------------------------


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
    (size,) = _HEADER.unpack(header)
    payload = bytearray()
    while len(payload) < size:
        chunk = conn.recv(size - len(payload))
        if not chunk:
            raise ConnectionError("the job process left before sending its request")
        payload += chunk
    return pickle.loads(payload), fds


def _run_child(listener: socket.socket, conn: socket.socket, request: dict, fds: list[int], threads: int) -> None:
    """In the forked child: become the job process (streams, directory, environment,
    arguments, threads) and run its script; report the exit status. Never returns."""
    import runpy
    import traceback

    import torch

    listener.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or threads))

    def die_with_the_job_process():
        while conn.recv(1):
            pass
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=die_with_the_job_process, daemon=True).start()
    status = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as leaving:
        if isinstance(leaving.code, int) or leaving.code is None:
            status = leaving.code or 0
        else:
            print(leaving.code, file=sys.stderr)
            status = 1
    except BaseException:
        traceback.print_exc()
        status = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
    with contextlib.suppress(OSError):
        conn.sendall(_HEADER.pack(status))
    os._exit(status)


def serve(path: Path, checkpoint: str, data: str) -> None:
    """Preload, listen on ``path`` and fork a child per job until idle."""
    global _preloaded
    import importlib

    import torch

    from unlearn_study.backends.fairseq import scoring

    threads = torch.get_num_threads()  # what a fresh job process would use
    torch.set_num_threads(1)  # no OpenMP parallel region before fork (see the module's doc)
    for module in PRELOAD:
        importlib.import_module(module)
    _preloaded = (checkpoint, data, scoring.load_model(checkpoint, data, device="cpu"))

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = path.with_suffix(f".{os.getpid()}")
    listener.bind(str(staging))
    listener.listen(64)
    os.replace(staging, path)  # jobs see the socket only once the model is loaded
    own = path.stat().st_ino
    listener.settimeout(1.0)
    children: set[int] = set()
    last_job = time.monotonic()
    print(f"worker {os.getpid()}: {checkpoint} loaded in {time.process_time():.1f} s CPU", flush=True)
    while True:
        for pid in list(children):
            if os.waitpid(pid, os.WNOHANG)[0]:
                children.discard(pid)
        replaced = not path.exists() or path.stat().st_ino != own
        if not children and (replaced or time.monotonic() - last_job > IDLE_S):
            break
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        try:
            request, fds = _receive(conn)
        except (OSError, ConnectionError, pickle.UnpicklingError) as problem:
            print(f"worker {os.getpid()}: bad request: {problem}", flush=True)
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            _run_child(listener, conn, request, fds, threads)
        for fd in fds:
            os.close(fd)
        conn.close()
        children.add(pid)
        last_job = time.monotonic()
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_ino == own:
            path.unlink()
            path.with_suffix(".log").unlink()  # kept only where a worker failed


if __name__ == "__main__":
    # through the imported module: the jobs' scripts import it, and must find its model there
    from unlearn_study.infra import warm

    warm.serve(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
