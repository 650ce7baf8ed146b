"""Running fairseq's command-line tools from the pipeline."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def plugin_dir() -> str:
    """``--user-dir`` for every fairseq CLI: registers what torch's safe loader needs."""
    return str(Path(__file__).resolve().parent / "plugin")


def cli(name: str) -> str:
    """Path of a fairseq console script next to the running interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run(name: str, args: list[str], log_path: str | os.PathLike, threads: int = 1) -> None:
    """Run ``fairseq-<name>`` with the plugin, appending its output to ``log_path``.

    Thread counts are set for the child process only, so that parallel jobs on one
    machine do not oversubscribe its cores.
    """
    cmd = [cli(f"fairseq-{name}"), *map(str, args), "--user-dir", plugin_dir()]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log.info("running: %s", " ".join(cmd))
    with open(log_path, "a", encoding="utf-8") as out:
        out.flush()
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"fairseq-{name} failed with exit code {result.returncode}; see {log_path}")


def torch_device(device: str) -> str:
    """torch device name for the configured device ('auto' picks CUDA when present).

    'cuda' on a machine without a usable CUDA device is an error here, at the start of the
    job, rather than a silent CPU run of fairseq-train and a failure after it.
    """
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "model.device is 'cuda' but torch sees no CUDA device on this machine "
            f"(torch {torch.__version__}); use 'auto' or 'cpu', or run on a GPU node"
        )
    return "cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu"


def device_flags(device: str) -> list[str]:
    """fairseq flags for the configured device ('auto' picks CUDA when present)."""
    return [] if torch_device(device) == "cuda" else ["--cpu"]
