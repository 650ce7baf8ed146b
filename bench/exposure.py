"""metrics.rank_exposure (sort + searchsorted) vs a naive Python loop, and its scaling.

Values and populations are synthetic bits/token (normal, seeded; the real populations
hold 1,000 examples per kind). For each population size the vectorised call ranks
--values values, the naive loop ranks the first --naive-values of them
(rank = 1 + #{r < v}, one Python comparison per population member); both are timed
interleaved --reps times and compared per value, and their results must agree exactly.
"""

import json
import shlex
import sys
import time
from pathlib import Path

import common
import numpy as np

from unlearn_study.metrics import core as metrics

p = common.parser(__doc__, results=False, device_help="numpy only: accepted for uniformity, ignored")
p.add_argument("--values", type=int, default=1000)
p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
p.add_argument("--naive-values", type=int, default=20)
p.add_argument("--reps", type=int, default=7)
a = p.parse_args()

rng = np.random.default_rng(0)
values = rng.normal(5.0, 1.0, a.values)


def naive(vals, pop):
    pop = [float(x) for x in pop]
    n = len(pop)
    return np.array([np.log2(n + 1.0) - np.log2(1.0 + sum(1 for r in pop if r < v)) for v in vals])


rows = []
for n in a.sizes:
    pop = rng.normal(5.5, 1.0, n)
    tv, tn = [], []
    for _ in range(a.reps):
        t = time.perf_counter()
        fast = metrics.rank_exposure(values, pop)
        tv.append(time.perf_counter() - t)
        t = time.perf_counter()
        slow = naive(values[: a.naive_values], pop)
        tn.append(time.perf_counter() - t)
    assert np.array_equal(fast[: a.naive_values], slow), "naive and vectorised ranks differ"
    vec_ms, naive_ms = 1000 * np.median(tv), 1000 * np.median(tn)
    per_vec_us, per_naive_us = 1000 * vec_ms / a.values, 1000 * naive_ms / a.naive_values
    rows.append(
        {
            "population": n,
            "values": a.values,
            "vectorised_ms": vec_ms,
            "vectorised_us_per_value": per_vec_us,
            "naive_values": a.naive_values,
            "naive_ms": naive_ms,
            "naive_us_per_value": per_naive_us,
            "naive_extrapolated_ms": per_naive_us * a.values / 1000,
            "speedup_per_value": per_naive_us / per_vec_us,
        }
    )

print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(
    f"medians of {a.reps} interleaved reps; naive loop on the first {a.naive_values} values, extrapolated to {a.values}\n"
)
print(
    f"{'|R|':>8}{'vectorised ms':>15}{'us/value':>10}{'naive ms':>11}{'naive us/value':>16}"
    f"{'naive ext. ms':>15}{'speed-up':>10}"
)
for r in rows:
    print(
        f"{r['population']:>8,}{r['vectorised_ms']:>15.3f}{r['vectorised_us_per_value']:>10.3f}{r['naive_ms']:>11.1f}"
        f"{r['naive_us_per_value']:>16.1f}{r['naive_extrapolated_ms']:>15.0f}{r['speedup_per_value']:>9.0f}x"
    )
sizes = np.log10([r["population"] for r in rows])
slope_v = np.polyfit(sizes, np.log10([r["vectorised_ms"] for r in rows]), 1)[0] if len(rows) > 1 else float("nan")
slope_n = np.polyfit(sizes, np.log10([r["naive_ms"] for r in rows]), 1)[0] if len(rows) > 1 else float("nan")
print(f"\nscaling exponent (time ~ |R|^k, log-log fit): vectorised k = {slope_v:.2f}, naive k = {slope_n:.2f}")
out = Path(a.bench_dir) / "exposure.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(
    json.dumps(
        {
            "command": sys.argv,
            "reps": a.reps,
            "rows": rows,
            "scaling_exponent": {"vectorised": slope_v, "naive": slope_n},
        },
        indent=1,
    )
)
print(f"wrote {out}")
