"""The fixed cost of an unlearning job, with and without warm workers, side by side.

Reruns --jobs unlearning jobs of a finished study through Snakemake (--forcerun with
--rerun-triggers mtime: nothing upstream reruns), alternating rounds with config
model.warm_worker false (each job in its own process: interpreter, imports, model load)
and true (jobs handed to the warm worker of their model, src/unlearn_study/infra/warm.py),
--rounds times each. Per job it reads status.json's setup_s (from the job process's start
to the start of step 0: the fixed cost) and the Snakemake benchmark's wall time; per round
Snakemake's own elapsed time. Medians per mode, and their ratio. In the warm rounds the
first job of each model also starts its worker (setup_s of those jobs is listed apart).

The reruns rewrite the jobs' tables with the same contents (tests/test_pipeline.py's
test_warm_workers_change_no_table) and add runs to the study's MLflow store.
"""

import json
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import pandas as pd
import yaml

from unlearn_study.infra import paths

p = common.parser(__doc__, device_help="ignored: the study config decides")
p.add_argument("--config", default=None, help="the study's config file (overlays config.yaml), if not the default")
p.add_argument("--jobs", type=int, default=8, help="unlearning jobs per round (the first ones, sorted by path)")
p.add_argument("--rounds", type=int, default=2, help="rounds per mode")
p.add_argument("--cores", type=int, default=2)
a = p.parse_args()
P = paths.under(a.results)

units = common.matching(P.unlearn_status)[: a.jobs]
if not units:
    raise SystemExit(f"no unlearning job in {a.results}: run the study first")
targets = [str(path) for path, _ in units]
print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(f"{len(targets)} jobs per round, {a.rounds} rounds per mode, --cores {a.cores}")


def run_round(warm: bool) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as overlay:
        yaml.safe_dump({"model": {"warm_worker": warm}}, overlay)
    configs = [*([a.config] if a.config else []), overlay.name]
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--cores",
        str(a.cores),
        "--rerun-triggers",
        "mtime",
        "--configfile",
        *configs,
        "--forcerun",
        *targets,
        "--",
        *targets,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    Path(overlay.name).unlink()
    if done.returncode:
        raise SystemExit(f"snakemake failed:\n{done.stderr[-3000:]}")
    elapsed = re.search(r"Elapsed time: (\d+):(\d+):(\d+\.?\d*)", done.stderr)
    jobs = []
    for path, wildcards in units:
        status = json.loads(Path(path).read_text())
        benchmark = float(pd.read_csv(P.benchmark("unlearn").format(**wildcards), sep="\t")["s"].iloc[0])
        jobs.append({"setup_s": status["setup_s"], "process": status["process"], "job_s": benchmark})
    seconds = int(elapsed.group(1)) * 3600 + int(elapsed.group(2)) * 60 + float(elapsed.group(3)) if elapsed else wall
    return {"warm": warm, "elapsed_s": seconds, "jobs": jobs}


rounds = [run_round(warm) for _ in range(a.rounds) for warm in (False, True)]
summary = {}
for warm in (False, True):
    mine = [r for r in rounds if r["warm"] is warm]
    jobs = [j for r in mine for j in r["jobs"]]
    expected = "warm worker" if warm else "own"
    assert all(j["process"] == expected for j in jobs), f"some jobs did not run in the {expected} process"
    setups = sorted(j["setup_s"] for j in jobs)
    summary["warm" if warm else "own"] = {
        "setup_s_median": statistics.median(setups),
        "setup_s_max": setups[-1],
        "job_s_median": statistics.median(j["job_s"] for j in jobs),
        "round_elapsed_s_median": statistics.median(r["elapsed_s"] for r in mine),
        "n_jobs": len(jobs),
    }
own, warm = summary["own"], summary["warm"]
print(f"\n{'':28}{'own process':>14}{'warm worker':>14}{'warm/own':>10}")
for key, label in [
    ("setup_s_median", "start to step 0, median s"),
    ("setup_s_max", "start to step 0, max s"),
    ("job_s_median", "job wall time, median s"),
    ("round_elapsed_s_median", "round (Snakemake), median s"),
]:
    print(f"{label:28}{own[key]:14.2f}{warm[key]:14.2f}{warm[key] / own[key]:10.2f}")
print(f"({own['n_jobs']} jobs per mode; the max of the warm rounds is a job that started its worker)")
out = Path(a.bench_dir) / "job_start.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"command": sys.argv, "rounds": rounds, "summary": summary}, indent=2))
print(f"wrote {out}")
