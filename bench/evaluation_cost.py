"""Where unlearning jobs spend their time: generation vs scoring vs optimiser vs the
per-step tests vs other.

Reads each unlearning job's status.json (paths' unlearn_status: generation_s, scoring_s,
optimiser_s and tracing_s, accumulated by unlearning.unlearn, evaluation.evaluate and
evaluation.trace, the per-step tests: forget set and damage sample scored at every step)
and its Snakemake benchmark (paths' benchmarks_dir, named by rule unlearn's job name in
paths.JOBS; s = the job's wall time).
other = wall - (generation + scoring + optimiser + tracing): python start and imports, model
load, reading tables, SentencePiece + fairseq encoding, metric computation, writing
outputs and MLflow logging. "other" is split with the job log's timestamps (paths'
logs_dir, same name): 'in-job' = between the first log line that is not MLflow's
(fairseq's import message, at model load) and the last 'step N' line, minus the four timed parts (model load, encoding, metrics); 'outside' =
the rest of the wall time (interpreter and Snakemake script start, imports, writing
outputs, MLflow). The shared step-0 evaluation (rule base_evaluation) runs once per
model (half and seed); its benchmarks base_evaluation_<half>_seed<s>.tsv are summed.
With --measure FORGET_SET it also times, on this machine, the parts of one
evaluation (evaluation.evaluate) of that forget set with the model its unlearning jobs
start from (its half's, --half and --seed change it): the job's EvalData is set up as
rule unlearn does (evaluation.job_data, with --config's settings, for the first of its
unlearning.methods, reading the model's base evaluation where it exists), then scoring
of each of its pair sets (forget set, population, neighbours, test, retain sample) and
translation of the test set (generation.translate) are timed.
"""

import datetime
import json
import re
import shlex
import sys
from pathlib import Path

import common
import pandas as pd

from unlearn_study.infra import paths

p = common.parser(__doc__, threads=True, device_help="used by --measure only")
p.add_argument("--measure", metavar="FORGET_SET", help="also time one evaluation's parts, e.g. id-difficulty-easy-r1")
p.add_argument("--reps", type=int, default=3, help="--measure repetitions (medians)")
common.add_model_options(p, "--measure batches as this study config does", half_default="the forget set's half")
a = p.parse_args()
common.check_forget_set(p, a.measure)
R = Path(a.results)
P = paths.under(a.results)

PARTS = ["generation_s", "scoring_s", "optimiser_s", "tracing_s", "other_s"]
TIMED = PARTS[:4]


def logged_span(log):
    """Seconds from the first log line that is not MLflow's (unlearn_study.infra.tracking, which may
    warn before the model is loaded) to the last 'step N:' line of unlearning (None if absent)."""
    stamps = (
        [
            (datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"), m.group(2))
            for m in re.finditer(r"^(\S+ \S+) \w+ (\S+): ", log.read_text(errors="replace"), re.M)
        ]
        if log.exists()
        else []
    )
    steps = [t for t, name in stamps if name == "unlearn_study.study.unlearning"]
    first = next(t for t, name in stamps if name != "unlearn_study.infra.tracking") if steps else None
    return (steps[-1] - first).total_seconds() if steps else None


UNLEARNING_DIR = Path(P.unlearn_dir.split("{")[0])  # a job's label: its directory under this one
rows = []
for status, job in common.matching(P.unlearn_status):
    st = json.loads(status.read_text())
    tsv = Path(P.benchmark("unlearn").format(**job))
    label = str(status.parent.relative_to(UNLEARNING_DIR))
    if not tsv.exists():
        print(f"skipping {label}: no {tsv}")
        continue
    wall = float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])
    row = {
        "job": label,
        **job,
        "seed": int(job["seed"]),
        "status": st.get("status"),
        "wall_s": wall,
        **{k: float(st.get(k, 0.0)) for k in TIMED},  # no tracing_s: a job before per-step tests
    }
    row["other_s"] = wall - sum(row[k] for k in TIMED)
    span = logged_span(Path(P.log("unlearn").format(**job)))
    row["other_in_job_s"] = span - sum(row[k] for k in TIMED) if span is not None else float("nan")
    row["other_outside_s"] = wall - span if span is not None else float("nan")
    rows.append(row)
if not rows:
    sys.exit(f"no unlearning status.json with a benchmark tsv under {R}")
df = pd.DataFrame(rows)
total = df[["wall_s", *PARTS, "other_in_job_s", "other_outside_s"]].sum()

print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(f"{len(df)} unlearning jobs under {R}; shares of each job's wall time (Snakemake benchmark s)\n")
labels = df["job"]
width = max(38, 2 + labels.str.len().max())
print(
    f"{'job (' + str(UNLEARNING_DIR) + '/...)':<{width}}{'wall s':>8}{'gen':>7}{'score':>7}{'optim':>7}{'trace':>7}{'other':>7}{'in-job':>8}{'outside':>8}  largest"
)
for label, r in zip(labels, df.itertuples()):
    shares = {k: getattr(r, k) / r.wall_s for k in PARTS}
    print(
        f"{label:<{width}}{r.wall_s:>8.1f}"
        + "".join(f"{100 * v:>6.1f}%" for v in shares.values())
        + f"{100 * r.other_in_job_s / r.wall_s:>7.1f}%{100 * r.other_outside_s / r.wall_s:>7.1f}%"
        + f"  {max(shares, key=shares.get)[:-2]}"
    )
shares = {k: float(total[k] / total["wall_s"]) for k in [*PARTS, "other_in_job_s", "other_outside_s"]}
print(
    f"{'TOTAL':<{width}}{total['wall_s']:>8.1f}"
    + "".join(f"{100 * v:>6.1f}%" for v in list(shares.values())[: len(PARTS)])
    + "".join(f"{100 * v:>7.1f}%" for v in list(shares.values())[len(PARTS) :])
)
print(
    "\ntotal seconds: "
    + ", ".join(f"{k[:-2]} {total[k]:.1f}" for k in total.index[1:])
    + f" (wall {total['wall_s']:.1f})"
)
base_jobs = {
    f"{job['half']}_seed{job['seed']}": float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])
    for tsv, job in common.matching(P.benchmark("base_evaluation"))
}
base_s = sum(base_jobs.values()) if base_jobs else None
print(
    "shared step-0 evaluation (rule base_evaluation, once per model for all its jobs): "
    + (
        f"{base_s:.1f} s wall for {len(base_jobs)} models ("
        + ", ".join(f"{k} {v:.1f} s" for k, v in base_jobs.items())
        + ")"
        if base_jobs
        else "none (every job evaluated step 0 itself)"
    )
)
largest = max(PARTS, key=shares.get)
print(f"largest share overall: {largest[:-2]} ({100 * shares[largest]:.1f}% of unlearning wall time)")
evaluated = df["generation_s"] + df["scoring_s"]
print(f"evaluation (generation + scoring) / optimiser steps: {evaluated.sum() / df['optimiser_s'].sum():.1f}x")


def measure_eval(name):
    """Median seconds of each part of one evaluate() call, the forget set's model, interleaved --reps times."""
    import time

    import numpy as np

    from unlearn_study import methods
    from unlearn_study.backends.fairseq import scoring
    from unlearn_study.backends.fairseq.generation import translate

    common.setup_torch(a)
    cfg = common.study_config(a.config)
    half, seed, checkpoint, data_dir = common.model_paths(a, P, cfg, forget_set=name)
    model = scoring.load_model(checkpoint, data_dir, device=a.device)
    base = Path(P.base_evaluation.format(half=half, seed=seed))
    try:
        data = common.unlearning_job_data(
            P,
            cfg,
            model,
            name,
            needs_retain=methods.REGISTRY[cfg["unlearning"]["methods"][0]].needs_retain,
            base_path=base if base.exists() else None,
        )
    except ValueError as e:  # the base evaluation's rows are not those this set-up evaluates
        sys.exit(f"{e}\n(is --config the study config of --results?)")
    sets = {
        "forget": data.forget_pairs,
        "population": data.population,
        "neighbours": data.neighbour_pairs,
        "test": data.test_pairs,
        "retain": data.retain_pairs,
    }
    times = {k: [] for k in [*sets, "translate"]}
    for _ in range(a.reps):
        for k, e in sets.items():
            t = time.perf_counter()
            scoring.score(model, e)
            times[k].append(time.perf_counter() - t)
        t = time.perf_counter()
        translate(model, data.test_pairs, data.decode, data.generation)
        times["translate"].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    scored = sum(v for k, v in med.items() if k != "translate")
    print(
        f"\none evaluation of {name} (model {half}/seed{seed}, {a.device}, {a.threads} thread(s), median of {a.reps}; "
        f"max_tokens {cfg['scoring']['max_tokens']}, generation max_tokens {data.generation.max_tokens}):"
    )
    for k, v in med.items():
        n = len(sets[k] if k in sets else data.test_pairs)
        print(
            f"  {k:<11}{n:>6} pairs{v:>8.3f} s"
            + (f"  {100 * v / scored:5.1f}% of scoring" if k in sets else f"  (beam {data.generation.beam})")
        )
    return {"model": {"half": half, "seed": seed}, "pairs": {k: len(e) for k, e in sets.items()}, "median_s": med}


measured = measure_eval(a.measure) if a.measure else None
out = Path(a.bench_dir) / f"evaluation_cost{common.results_tag(a.results)}.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(
    json.dumps(
        {
            "command": sys.argv,
            "jobs": rows,
            "total_s": {k: float(v) for k, v in total.items()},
            "shares": shares,
            "largest": largest,
            "base_evaluation_s": base_s,
            "base_evaluation_jobs_s": base_jobs,
            "measured_evaluation": measured,
        },
        indent=1,
    )
)
print(f"wrote {out}")
