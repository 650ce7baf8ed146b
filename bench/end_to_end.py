"""Wall time and peak memory of every benchmarked Snakemake job, per job and per rule.

Reads the Snakemake `benchmark:` files (s = wall seconds, max_rss = peak resident memory
in MB, cpu_time = user+sys seconds) under the benchmarks directory of each --results
directory given (unlearn_study.infra.paths: <results>/benchmarks). The rule is read from the
file name, a job name of paths.JOBS (e.g. train_<half>_seed<s> of rule train_model,
unlearn_<method>_<forget_set>_seed<s> of rule unlearn); rules without benchmark files in
a study are not included. Files with other names (an older layout) are listed and
skipped. Measures nothing itself.
"""

import json
import re
import shlex
import sys
from pathlib import Path

import common
import pandas as pd

from unlearn_study.infra import paths

p = common.parser(__doc__, results=False, device_help="ignored: reads recorded benchmarks")
p.add_argument("--results", nargs="+", default=["results"], help="one or more results directories")
a = p.parse_args()

print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
report = {"command": sys.argv, "studies": {}}
for results in a.results:
    benchmarks = Path(paths.under(results).benchmarks_dir)
    files = sorted(benchmarks.glob("*.tsv"))
    if not files:
        print(f"\n{results}: no {benchmarks}/*.tsv")
        continue
    rows = []
    for f in files:
        try:
            rule, _ = common.benchmark_job(f)
        except ValueError as e:
            print(f"skipping {e}")
            continue
        t = pd.read_csv(f, sep="\t")
        rows.append(
            {
                "job": f.stem,
                "rule": rule,
                "runs": len(t),
                "wall_s": float(t["s"].mean()),
                "cpu_s": float(t["cpu_time"].mean()),
                "max_rss_mb": float(t["max_rss"].max()),
            }
        )
    if not rows:
        print(f"\n{results}: no benchmark file of the current layout in {benchmarks}")
        continue
    df = pd.DataFrame(rows)
    width = max(46, 2 + df["job"].str.len().max())
    print(f"\n== {results}: {len(df)} benchmarked jobs ==")
    print(f"{'job':<{width}}{'wall s':>9}{'cpu s':>9}{'max_rss MB':>12}")
    for r in df.itertuples():
        print(
            f"{r.job:<{width}}{r.wall_s:>9.1f}{r.cpu_s:>9.1f}{r.max_rss_mb:>12.0f}"
            + (f"  ({r.runs} runs, mean)" if r.runs > 1 else "")
        )
    per_rule = df.groupby("rule").agg(
        jobs=("job", "size"),
        wall_s=("wall_s", "sum"),
        median_wall_s=("wall_s", "median"),
        cpu_s=("cpu_s", "sum"),
        peak_rss_mb=("max_rss_mb", "max"),
    )
    total = df["wall_s"].sum()
    print(
        f"\n{'rule':<16}{'jobs':>6}{'sum wall s':>12}{'share':>8}{'median s':>10}{'sum cpu s':>11}{'peak rss MB':>13}"
    )
    for rule, r in per_rule.sort_values("wall_s", ascending=False).iterrows():
        print(
            f"{rule:<16}{int(r.jobs):>6}{r.wall_s:>12.1f}{100 * r.wall_s / total:>7.1f}%{r.median_wall_s:>10.1f}"
            f"{r.cpu_s:>11.1f}{r.peak_rss_mb:>13.0f}"
        )
    print(
        f"{'TOTAL':<16}{len(df):>6}{total:>12.1f}{'':>8}{'':>10}{df['cpu_s'].sum():>11.1f}{df['max_rss_mb'].max():>13.0f}"
    )
    print(
        "(sum of job wall times = serial cost; Snakemake may run jobs in parallel, so the run's own wall time is shorter)"
    )
    report["studies"][results] = {
        "jobs": rows,
        "per_rule": per_rule.reset_index().to_dict("records"),
        "total_wall_s": float(total),
        "peak_rss_mb": float(df["max_rss_mb"].max()),
    }

tag = "_".join(re.sub(r"\W+", "_", r).strip("_") for r in a.results)
out = Path(a.bench_dir) / ("end_to_end.json" if a.results == ["results"] else f"end_to_end_{tag}.json")
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(report, indent=1))
print(f"wrote {out}")
