"""How the whole study's cost grows with corpus size and with the number of forget sets.

Runs the complete pipeline from scratch (a fresh results directory per point, under
<bench-dir>/scaling/) for each training-corpus size (`corpus.max_train_pairs`) and each
number of forget sets, and reports per point: Snakemake's wall time for the whole run, the
summed wall time of the benchmarked jobs per rule (train, score, base = base_evaluation,
unlearn; the cheap rules have no benchmark files) and the peak RSS of any job. Then fits time ~ size^k (corpus axis) and time = a + b * n_sets
(forget-set axis).

Every point uses the configuration in config.yaml plus SCALING_OVERRIDES (fewer epochs and
unlearning steps, so that the sweep takes about 20 minutes on 2 cores) plus the point's own
value; `--epochs`/`--steps` change the overrides. The forget-set axis runs at the smallest
corpus size; its 3-set point is the corpus axis's smallest point, which is reused.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import common
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
# number of forget sets -> (kinds, groupings); buckets: 3 terciles each, 3 repetition levels
FORGET_SET_LADDER = {
    3: (["id"], ["difficulty"]),
    6: (["id", "ood"], ["difficulty"]),
    12: (["id", "ood"], ["difficulty", "memorisation"]),
    15: (["id", "ood"], ["difficulty", "memorisation", "repetition"]),
}

p = common.parser(__doc__, results=False, device_help="model.device of every point")
p.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000], help="corpus.max_train_pairs values")
p.add_argument("--forget-sets", type=int, nargs="+", default=[3, 6, 15], choices=sorted(FORGET_SET_LADDER))
p.add_argument("--epochs", type=int, default=2, help="model.max_epoch for every point")
p.add_argument("--steps", type=int, default=20, help="unlearning.steps (evaluated at 0, steps/2, steps)")
p.add_argument("--cores", type=int, default=os.cpu_count())
p.add_argument("--keep", action="store_true", help="keep each point's results directory (models, logs)")
a = p.parse_args()

SCALING_OVERRIDES = {
    "model": {"max_epoch": a.epochs, "device": a.device},
    "unlearning": {"steps": a.steps, "eval_steps": [0, a.steps // 2, a.steps]},
}


def run_point(name: str, corpus_size: int, n_sets: int) -> dict:
    results = Path(a.bench_dir) / "scaling" / name
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    kinds, groupings = FORGET_SET_LADDER[n_sets]
    override = {
        **SCALING_OVERRIDES,
        "experiment": f"scaling-{name}",
        "results_dir": str(results),
        "corpus": {"max_train_pairs": corpus_size},
        "forget_sets": {"kinds": kinds, "groupings": groupings},
    }
    (results / "override.yaml").write_text(yaml.safe_dump(override))
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "--cores",
        str(a.cores),
        "--configfile",
        "config.yaml",
        str(results / "override.yaml"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    print(f"[{name}] {' '.join(map(shlex.quote, cmd))}", flush=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"[{name}] snakemake failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    jobs = pd.concat(
        [
            pd.read_csv(f, sep="\t").assign(rule=f.stem.split("_", 1)[0])
            for f in sorted(results.glob("benchmarks/*.tsv"))
        ]
    )
    per_rule = jobs.groupby("rule")["s"].sum().to_dict()
    n_unlearn = int((jobs["rule"] == "unlearn").sum())
    assert n_unlearn == n_sets, f"{name}: {n_unlearn} unlearning jobs, expected {n_sets}"
    point = {
        "name": name,
        "corpus_size": corpus_size,
        "forget_sets": n_sets,
        "wall_s": wall,
        "job_s": per_rule,
        "peak_rss_mb": float(jobs["max_rss"].max()),
        "corpus_stats": json.loads((results / "data/corpus/stats.json").read_text()),
    }
    print(f"[{name}] {wall:.0f} s wall, " + ", ".join(f"{k} {v:.0f} s" for k, v in per_rule.items()), flush=True)
    if not a.keep:
        shutil.rmtree(results)
    return point


def fmt_row(pt):
    j = pt["job_s"]
    return (
        f"{pt['corpus_size']:>7,}{pt['forget_sets']:>6}{pt['wall_s']:>9.0f}"
        + "".join(f"{j.get(k, 0.0):>9.0f}" for k in ("train", "score", "base", "unlearn"))
        + f"{pt['peak_rss_mb']:>10.0f}"
    )


print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(f"overrides on config.yaml for every point: {SCALING_OVERRIDES}; {a.cores} cores, {os.cpu_count()} CPUs")
smallest = min(a.sizes)
points = {}
for size in sorted(a.sizes):
    points[(size, 3)] = run_point(f"corpus{size}_sets3", size, 3)
for n in sorted(a.forget_sets):
    if (smallest, n) not in points:
        points[(smallest, n)] = run_point(f"corpus{smallest}_sets{n}", smallest, n)

header = f"{'pairs':>7}{'sets':>6}{'wall s':>9}{'train s':>9}{'score s':>9}{'base s':>9}{'unlearn':>9}{'rss MB':>10}"
print("\njob columns: summed wall seconds of that rule's jobs (jobs may run in parallel)")
for axis, keys in (
    ("corpus size (3 forget sets)", [(s, 3) for s in sorted(a.sizes)]),
    (f"number of forget sets ({smallest:,} pairs)", [(smallest, n) for n in sorted(a.forget_sets)]),
):
    print(f"\n== {axis} ==\n{header}")
    for key in keys:
        print(fmt_row(points[key]))

sizes = np.array(sorted(a.sizes), dtype=float)
walls = np.array([points[(s, 3)]["wall_s"] for s in sorted(a.sizes)])
trains = np.array([points[(s, 3)]["job_s"].get("train", np.nan) for s in sorted(a.sizes)])
k_wall, k_train = np.polyfit(np.log(sizes), np.log(walls), 1)[0], np.polyfit(np.log(sizes), np.log(trains), 1)[0]
n = np.array(sorted(a.forget_sets), dtype=float)
wall_n = np.array([points[(smallest, int(x))]["wall_s"] for x in n])
unlearn_n = np.array([points[(smallest, int(x))]["job_s"].get("unlearn", np.nan) for x in n])
slope, intercept = np.polyfit(n, wall_n, 1)
print(f"\ncorpus axis: wall ~ size^{k_wall:.2f}, training job time ~ size^{k_train:.2f}")
print(
    f"forget-set axis: wall = {intercept:.0f} s + {slope:.1f} s per forget set "
    f"(unlearning jobs: {np.median(unlearn_n / n):.1f} s each, summed over jobs)"
)
out = Path(a.bench_dir) / "scaling.json"
out.write_text(
    json.dumps(
        {
            "command": sys.argv,
            "overrides": SCALING_OVERRIDES,
            "cores": a.cores,
            "points": list(points.values()),
            "corpus_exponent_wall": k_wall,
            "corpus_exponent_train": k_train,
            "seconds_per_forget_set": slope,
            "fixed_seconds": intercept,
        },
        indent=1,
        default=float,
    )
)
print(f"wrote {out}")
