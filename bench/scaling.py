"""How the whole study's cost grows with corpus size and with the number of forget sets.

Runs the complete pipeline from scratch (a fresh results directory per point, under
<bench-dir>/scaling/) for each training-corpus size (`corpus.max_train_pairs`) and each
number of forget sets, and reports per point: Snakemake's wall time for the whole run, the
summed wall time of the benchmarked jobs per rule (train = train_model, score =
score_model, base = base_evaluation, unlearn, audit; the other rules' jobs are cheap and are
kept under their rule's name in the JSON only; the rule is read from the benchmark
file's name, common.benchmark_job) and the peak RSS of any job. Then fits time ~ size^k
(corpus axis) and time = a + b * n_sets (forget-set axis).

Every point uses the configuration in config.yaml plus the sweep's overrides (fewer
training epochs and unlearning steps, so that the sweep takes about 20 minutes on 2 cores;
claims.fixed_step at half the steps, as it must be an evaluated step) plus the point's own
values; `--epochs`/`--steps` change the overrides. Training is capped by updates
(model.max_update), not epochs, so each point gets the updates of about --epochs epochs of
its models' training pairs (estimated_max_update; patience is set so that early stopping
cannot end training sooner); each point records the epochs and updates its models actually
trained. Each bucket has one forget set (forget_sets.replicates 1, all from half A), so
that the forget-set ladder counts sets as before; every forget set is unlearnt by each of
config.yaml's unlearning.methods from each of its unlearning.seeds, and each unlearning
unit is audited (audits.replicates [1], every grouping) with config.yaml's audit settings. The forget-set axis
runs at the smallest corpus size; its 3-set point is the corpus axis's smallest point,
which is reused.
"""

import json
import math
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

from unlearn_study.infra import paths
from unlearn_study.infra.config import load_config
from unlearn_study.study import forget_sets, kinds

ROOT = Path(__file__).resolve().parents[1]
# number of forget sets -> (kinds, groupings); buckets: 3 terciles each, 3 repetition levels
# (config.yaml's id_sets and canaries repetitions); one replicate per bucket
FORGET_SET_LADDER = {
    3: ([kinds.ID.name], [kinds.DIFFICULTY.name]),
    6: (list(kinds.KINDS), [kinds.DIFFICULTY.name]),
    12: (list(kinds.KINDS), [kinds.DIFFICULTY.name, kinds.MEMORISATION.name]),
    18: (list(kinds.KINDS), list(kinds.GROUPINGS)),
}
# Column of each costly rule in the tables and JSON (other rules: their own name, JSON only).
RULE_COLUMNS = {
    "train_model": "train",
    "score_model": "score",
    "base_evaluation": "base",
    "unlearn": "unlearn",
    "audit": "audit",
}
# Training pairs per update at model.max_tokens 2048 in the default study (2,400 updates are
# about 7 epochs of its ~19,500 training pairs per model); proportional to model.max_tokens.
PAIRS_PER_UPDATE_AT_2048 = 57


def model_training_pairs(cfg: dict, corpus_size: int) -> int:
    """Training pairs of one model (binarize.training_pairs): the retained pairs (the corpus
    minus the ID candidates and population), its half's ID candidates and its half's
    canaries, each repeated its level's number of times."""
    ids, canaries = cfg["id_sets"], cfg["canaries"]
    retained = corpus_size - ids["per_level"] * len(ids["repetitions"]) - ids["n_population"]
    inserted = sum(c["per_level"] // 2 * sum(c["repetitions"]) for c in (ids, canaries))
    return retained + inserted


def estimated_max_update(cfg: dict, corpus_size: int, epochs: float) -> int:
    """model.max_update for about ``epochs`` epochs of a model trained at ``corpus_size``."""
    pairs_per_update = PAIRS_PER_UPDATE_AT_2048 * cfg["model"]["max_tokens"] / 2048
    return max(1, math.ceil(epochs * model_training_pairs(cfg, corpus_size) / pairs_per_update))


def point_override(overrides: dict, name: str, results: Path, corpus_size: int, n_sets: int, epochs: float) -> dict:
    """The config overlay of one point (on config.yaml)."""
    kinds, groupings = FORGET_SET_LADDER[n_sets]
    base = load_config(ROOT / "config.yaml")
    model = {
        **overrides["model"],
        "max_update": estimated_max_update(base, corpus_size, epochs),
        "patience": math.ceil(epochs) + 1,  # never stops before max_update
    }
    return {
        **overrides,
        "model": model,
        "experiment": f"scaling-{name}",
        "results_dir": str(results),
        "corpus": {"max_train_pairs": corpus_size},
        "forget_sets": {"kinds": kinds, "groupings": groupings, "replicates": 1},
        # config.yaml audits replicates 1-2 of the repetition grouping; a point has one
        # replicate and maybe no repetition sets, so it audits every forget set it has
        "audits": {"replicates": [1], "groupings": None},
    }


def expected_unlearning_jobs(override: dict, n_sets: int) -> int:
    """Unlearning jobs of a point: forget sets x methods x unlearnt seeds (checks the ladder)."""
    cfg = load_config(ROOT / "config.yaml", override)
    names = forget_sets.forget_set_names(cfg)
    assert len(names) == n_sets, f"the override makes {len(names)} forget sets, not {n_sets}: {names}"
    return n_sets * len(cfg["unlearning"]["methods"]) * len(cfg["unlearning"]["seeds"])


def benchmarked_jobs(results) -> pd.DataFrame:
    """Every benchmark file of the study in ``results``, one row per recorded run, with its
    rule's column (RULE_COLUMNS, else the rule's name)."""
    files = sorted(Path(paths.under(str(results)).benchmarks_dir).glob("*.tsv"))
    rules = [common.benchmark_job(f)[0] for f in files]
    return pd.concat([pd.read_csv(f, sep="\t").assign(rule=RULE_COLUMNS.get(r, r)) for f, r in zip(files, rules)])


def training_summaries(results) -> dict:
    """'<half>_seed<s>' -> (epochs trained, updates, why training stopped) of each model."""
    found = {}
    for path, model in common.matching(paths.under(str(results)).training):
        summary = json.loads(path.read_text())
        found[f"{model['half']}_seed{model['seed']}"] = {
            k: summary[k] for k in ("epochs_trained", "updates", "stopped_by")
        }
    return found


def run_point(a, overrides: dict, name: str, corpus_size: int, n_sets: int) -> dict:
    results = Path(a.bench_dir) / "scaling" / name
    override = point_override(overrides, name, results, corpus_size, n_sets, a.epochs)
    n_jobs = expected_unlearning_jobs(override, n_sets)
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
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
    jobs = benchmarked_jobs(results)
    per_rule = jobs.groupby("rule")["s"].sum().to_dict()
    n_unlearn = int((jobs["rule"] == "unlearn").sum())
    assert n_unlearn == n_jobs, f"{name}: {n_unlearn} unlearning jobs, expected {n_jobs}"
    point = {
        "name": name,
        "corpus_size": corpus_size,
        "forget_sets": n_sets,
        "unlearning_jobs": n_jobs,
        "max_update": override["model"]["max_update"],
        "training": training_summaries(results),
        "wall_s": wall,
        "job_s": per_rule,
        "peak_rss_mb": float(jobs["max_rss"].max()),
        "corpus_stats": json.loads(Path(paths.under(str(results)).corpus_stats).read_text()),
    }
    trained = ", ".join(
        f"{k} {v['epochs_trained']} epochs/{v['updates']} updates" for k, v in point["training"].items()
    )
    print(
        f"[{name}] {wall:.0f} s wall, "
        + ", ".join(f"{k} {v:.0f} s" for k, v in per_rule.items())
        + f"; max_update {point['max_update']}: {trained}",
        flush=True,
    )
    if not a.keep:
        shutil.rmtree(results)
    return point


def fmt_row(pt):
    j = pt["job_s"]
    return (
        f"{pt['corpus_size']:>7,}{pt['forget_sets']:>6}{pt['wall_s']:>9.0f}"
        + "".join(f"{j.get(k, 0.0):>9.0f}" for k in RULE_COLUMNS.values())
        + f"{pt['peak_rss_mb']:>10.0f}"
    )


def main():
    p = common.parser(__doc__, results=False, device_help="model.device of every point")
    p.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10000], help="corpus.max_train_pairs values")
    p.add_argument("--forget-sets", type=int, nargs="+", default=[3, 6, 18], choices=sorted(FORGET_SET_LADDER))
    p.add_argument(
        "--epochs", type=float, default=2, help="training epochs of every point (model.max_update, estimated)"
    )
    p.add_argument(
        "--steps", type=int, default=20, help="unlearning.steps (evaluated at 0, steps/2, steps; claims at steps/2)"
    )
    p.add_argument("--cores", type=int, default=os.cpu_count())
    p.add_argument("--keep", action="store_true", help="keep each point's results directory (models, logs)")
    a = p.parse_args()

    overrides = {
        "model": {"device": a.device},
        "unlearning": {"steps": a.steps, "eval_steps": [0, a.steps // 2, a.steps]},
        "claims": {"fixed_step": a.steps // 2},  # must be an evaluated step; config.yaml's is half its steps
    }
    print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
    print(
        f"overrides on config.yaml for every point: {overrides}, model.max_update for {a.epochs:g} epochs; "
        f"{a.cores} cores, {os.cpu_count()} CPUs"
    )
    smallest = min(a.sizes)
    points = {}
    for size in sorted(a.sizes):
        points[(size, 3)] = run_point(a, overrides, f"corpus{size}_sets3", size, 3)
    for n in sorted(a.forget_sets):
        if (smallest, n) not in points:
            points[(smallest, n)] = run_point(a, overrides, f"corpus{smallest}_sets{n}", smallest, n)

    header = f"{'pairs':>7}{'sets':>6}{'wall s':>9}{'train s':>9}{'score s':>9}{'base s':>9}{'unlearn':>9}{'audit':>9}{'rss MB':>10}"
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
    jobs_n = np.array([points[(smallest, int(x))]["unlearning_jobs"] for x in n])
    slope, intercept = np.polyfit(n, wall_n, 1)
    print(f"\ncorpus axis: wall ~ size^{k_wall:.2f}, training job time ~ size^{k_train:.2f}")
    print(
        f"forget-set axis: wall = {intercept:.0f} s + {slope:.1f} s per forget set "
        f"(unlearning jobs: {np.median(unlearn_n / jobs_n):.1f} s each, summed over jobs)"
    )
    out = Path(a.bench_dir) / "scaling.json"
    out.write_text(
        json.dumps(
            {
                "command": sys.argv,
                "overrides": overrides,
                "epochs": a.epochs,
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


if __name__ == "__main__":
    main()
