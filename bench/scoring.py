"""Project scorer (unlearn_study.backends.fairseq.scoring) vs `fairseq-generate --score-reference`.

Both score the same checkpoint (the model of --half and --seed: by default half A, the
first of the study config's model.seeds) on the same first --pairs training pairs of
that half, binarized into <bench-dir>/scoring_data (subset "train"). Timings,
interleaved, --reps times:
  fairseq   process : whole `fairseq-generate` subprocess (python start, imports, load, scoring, printing)
  fairseq   reported: its own "Translated N sentences ... in Xs" timer (task.inference_step only)
  project   process : a python subprocess doing imports + load_model + encode_pairs + score
  project   in-proc : load_model + encode_pairs + score (imports already done)
  project   score   : score() only (pairs already encoded, model loaded)
"""

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import common
import numpy as np
import torch

from unlearn_study.backends.fairseq import scoring
from unlearn_study.infra import paths
from unlearn_study.metrics import core as metrics

p = common.parser(__doc__, threads=True)  # --bench-dir also holds the binarized subset
p.add_argument("--pairs", type=int, default=2000)
p.add_argument("--max-tokens", type=int, default=2000, help="batch budget of both (the study default)")
p.add_argument("--reps", type=int, default=3)
common.add_model_options(p, "the study config of --results")
a = p.parse_args()
common.setup_torch(a)
P = paths.under(a.results)
HALF, SEED, CKPT, DATA = common.model_paths(a, P, common.study_config(a.config))
TAG = common.results_tag(a.results)
ENV = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
OUT, src, tgt = common.scoring_subset(a.results, DATA, a.bench_dir, a.pairs)
FAIRSEQ_CMD = common.fairseq_score_reference_cmd(OUT, CKPT, a.max_tokens, a.device)
PROJECT_CODE = f"""
import time; t0 = time.perf_counter()
import torch; torch.set_num_threads({a.threads})
from unlearn_study.backends.fairseq import scoring; import fairseq.checkpoint_utils
src = open({str(OUT / "raw/pairs.src")!r}).read().splitlines(); tgt = open({str(OUT / "raw/pairs.tgt")!r}).read().splitlines()
t1 = time.perf_counter(); m = scoring.load_model({str(CKPT)!r}, {str(OUT)!r}, device={a.device!r})
e = scoring.encode_pairs(m.src_dict, m.tgt_dict, src, tgt, max_tokens={a.max_tokens}); t2 = time.perf_counter()
scoring.score(m, e); print("PHASES", t1 - t0, t2 - t1, time.perf_counter() - t2)
"""


def run_fairseq():
    return common.run_fairseq_score_reference(FAIRSEQ_CMD, ENV)


def run_project_process():
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROJECT_CODE], check=True, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t
    imports, load_encode, score = map(float, proc.stdout.split("PHASES")[1].split())
    return wall, imports, score


def run_project_inproc():
    t0 = time.perf_counter()
    m = scoring.load_model(CKPT, OUT, device=a.device)
    t1 = time.perf_counter()
    enc = scoring.encode_pairs(m.src_dict, m.tgt_dict, src, tgt, max_tokens=a.max_tokens)
    t2 = time.perf_counter()
    bits = scoring.score(m, enc)
    t3 = time.perf_counter()
    return t3 - t0, t3 - t2, t1 - t0, t2 - t1, metrics.bits_per_token(bits, enc.target_lengths)


def compute_floor():
    """FLOPs (torch's FlopCounterMode: matmuls and attention) of one score() pass as batched, and
    of the same pairs one at a time (no padding at all), and the best fp32 matrix-multiply rate
    this device reaches at --threads, on the model's own GEMM shapes and a square one."""
    from torch.utils.flop_counter import FlopCounterMode

    m = scoring.load_model(CKPT, OUT, device=a.device)
    flops = []
    for max_tokens in (a.max_tokens, 1):  # max_tokens=1: every pair is a batch of its own
        enc = scoring.encode_pairs(m.src_dict, m.tgt_dict, src, tgt, max_tokens=max_tokens)
        with FlopCounterMode(display=False) as counter:
            scoring.score(m, enc)
        flops.append(counter.get_total_flops())
    rates = []
    for rows, inner, cols in [
        (8000, 128, 4000),
        (8000, 128, 512),
        (8000, 512, 128),
        (8000, 128, 128),
        (1024, 1024, 1024),
    ]:
        x = torch.randn(rows, inner, device=a.device)
        w = torch.randn(inner, cols, device=a.device)
        times = []
        for _ in range(7):
            if a.device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            x @ w
            if a.device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        rates.append(2 * rows * inner * cols / min(times[2:]))
    return flops, max(rates)


LOAD = [os.getloadavg()[0]]
run_project_inproc()  # warm-up: imports, allocator, page cache
T = {
    k: []
    for k in (
        "fairseq_process",
        "fairseq_reported",
        "project_process",
        "project_inproc",
        "project_score",
        "project_load",
        "project_encode",
        "project_process_imports",
        "project_process_score",
    )
}
for rep in range(a.reps):
    fw, fr, h = run_fairseq()
    pw, pwi, pws = run_project_process()
    pi, ps, pl, pe, bpt = run_project_inproc()
    for k, v in zip(T, (fw, fr, pw, pi, ps, pl, pe, pwi, pws)):
        T[k].append(v)
    print(f"rep {rep}: " + "  ".join(f"{k}={v[-1]:.2f}s" for k, v in T.items()), flush=True)

assert sorted(h) == list(range(a.pairs)), f"fairseq scored {len(h)} of {a.pairs} pairs"
diff = np.abs(bpt - (-np.array([h[i] for i in range(a.pairs)])))
med = {k: float(np.median(v)) for k, v in T.items()}
rate = {
    k: a.pairs / med[k]
    for k in ("fairseq_process", "fairseq_reported", "project_process", "project_inproc", "project_score")
}
paired = {
    k: float(np.median(np.array(T[f]) / np.array(T[p])))
    for k, f, p in [
        ("process_vs_process", "fairseq_process", "project_process"),
        ("inproc_incl_load_vs_fairseq_process", "fairseq_process", "project_inproc"),
        ("score_only_vs_fairseq_reported", "fairseq_reported", "project_score"),
    ]
}
ratios = {
    "process_vs_process": rate["project_process"] / rate["fairseq_process"],
    "inproc_incl_load_vs_fairseq_process": rate["project_inproc"] / rate["fairseq_process"],
    "score_only_vs_fairseq_reported": rate["project_score"] / rate["fairseq_reported"],
}
print(f"\ncommand: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(f"fairseq: {' '.join(map(shlex.quote, FAIRSEQ_CMD))}")
print(f"model: half {HALF}, seed {SEED} ({CKPT})")
LOAD.append(os.getloadavg()[0])
print(
    f"pairs={a.pairs} max_tokens={a.max_tokens} device={a.device} threads={a.threads} reps={a.reps} (medians); "
    f"1-min load average {LOAD[0]:.1f} at start, {LOAD[1]:.1f} at end ({os.cpu_count()} CPUs)\n"
)
print(f"{'timing':<20}{'includes':<58}{'median s':>9}{'pairs/s':>10}")
what = {
    "fairseq_process": "subprocess: start, imports, load model+data, score, print",
    "fairseq_reported": "fairseq's own timer: inference_step only",
    "project_process": "subprocess: start, imports, load model, encode, score",
    "project_inproc": "in-process: load_model + encode_pairs + score",
    "project_score": "in-process: score() only",
}
for k, w in what.items():
    print(f"{k:<20}{w:<58}{med[k]:>9.3f}{rate[k]:>10.0f}")
print(f"{'project_load':<20}{'load_model':<58}{med['project_load']:>9.3f}")
print(f"{'project_encode':<20}{'encode_pairs':<58}{med['project_encode']:>9.3f}")
print(
    f"{'project_proc_import':<20}{'in project_process: imports (torch, fairseq, unlearn_study)':<58}{med['project_process_imports']:>9.3f}"
)
print(
    f"{'project_proc_score':<20}{'in project_process: score() only, first call in the process':<58}{med['project_process_score']:>9.3f}"
)
print("\nspeed ratio (project pairs/s / fairseq pairs/s): ratio of medians | median of per-rep ratios")
for k, v in ratios.items():
    print(f"  {k:<40}{v:6.2f}x | {paired[k]:.2f}x")
print(f"max |bits/token project - fairseq| = {diff.max():.2e}  (mean {diff.mean():.2e}, over {a.pairs} pairs)")
sys.stdout.flush()  # the measured figures are out before the (slower, on a GPU) floor estimate
(flops, flops_unpadded), peak = compute_floor()
floor_s, target_s = flops / peak, med["fairseq_reported"] / 3
print(
    f"\ncompute floor: one score() pass is {flops / 1e9:.1f} GFLOP in matmuls/attention as batched "
    f"({flops_unpadded / 1e9:.1f} GFLOP with no padding at all); the best fp32 matmul rate measured here is "
    f"{peak / 1e9:.1f} GFLOP/s,\nso these operations alone need >= {floor_s:.2f} s as batched "
    f"(>= {flops_unpadded / peak:.2f} s unpadded). 3x fairseq's own timer means <= {target_s:.2f} s: "
    f"at most {med['fairseq_reported'] / floor_s:.2f}x is reachable as batched, and even unpadded the whole pass "
    f"would have to run at {flops_unpadded / target_s / peak:.0%} of the peak matmul rate.\n"
    f"score() runs at {flops / med['project_score'] / 1e9:.1f} GFLOP/s = {flops / med['project_score'] / peak:.0%} "
    f"of that rate."
)
out = Path(a.bench_dir) / f"scoring{TAG}_t{a.threads}.json"
out.write_text(
    json.dumps(
        {
            "command": sys.argv,
            "fairseq_command": FAIRSEQ_CMD,
            "model": {"half": HALF, "seed": SEED},
            "pairs": a.pairs,
            "max_tokens": a.max_tokens,
            "device": a.device,
            "threads": a.threads,
            "reps": a.reps,
            "times_s": T,
            "median_s": med,
            "pairs_per_s": rate,
            "ratios": ratios,
            "paired_ratios": paired,
            "max_abs_diff_bits_per_token": float(diff.max()),
            "loadavg_1min": LOAD,
            "score_flops": flops,
            "score_flops_unpadded": flops_unpadded,
            "peak_matmul_flops_per_s": peak,
            "matmul_floor_s": floor_s,
        },
        indent=1,
    )
)
print(f"wrote {out}")
