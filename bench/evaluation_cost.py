"""Where unlearning jobs spend their time: generation vs scoring vs optimiser vs other.

Reads <results>/unlearning/<method>/<forget_set>/status.json (generation_s, scoring_s,
optimiser_s, accumulated by unlearning.unlearn/evaluate) and the Snakemake benchmark
<results>/benchmarks/unlearn_<method>_<forget_set>.tsv (s = the job's wall time).
other = wall - (generation + scoring + optimiser): python start and imports, model
load, reading tables, SentencePiece + fairseq encoding, metric computation, writing
outputs and MLflow logging. Measures nothing itself (--device is accepted and ignored).
"""
import argparse, json, re, shlex, sys
from pathlib import Path

import pandas as pd

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--results", default="results")
p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="ignored: reads recorded timings")
p.add_argument("--bench-dir", default="results/bench", help="where the JSON goes")
a = p.parse_args()
R = Path(a.results)

PARTS = ["generation_s", "scoring_s", "optimiser_s", "other_s"]
rows = []
for status in sorted(R.glob("unlearning/*/*/status.json")):
    method, forget_set = status.parent.parent.name, status.parent.name
    st = json.loads(status.read_text())
    tsv = R / f"benchmarks/unlearn_{method}_{forget_set}.tsv"
    if not tsv.exists():
        print(f"skipping {forget_set}: no {tsv}")
        continue
    wall = float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])
    row = {"method": method, "forget_set": forget_set, "status": st.get("status"), "wall_s": wall,
           **{k: float(st[k]) for k in PARTS[:3]}}
    row["other_s"] = wall - sum(row[k] for k in PARTS[:3])
    rows.append(row)
if not rows:
    sys.exit(f"no unlearning status.json with a benchmark tsv under {R}")
df = pd.DataFrame(rows)
total = df[["wall_s", *PARTS]].sum()

print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(f"{len(df)} unlearning jobs under {R}; shares of each job's wall time (Snakemake benchmark s)\n")
print(f"{'method/forget_set':<38}{'wall s':>8}{'gen':>7}{'score':>7}{'optim':>7}{'other':>7}  largest")
for r in df.itertuples():
    shares = {k: getattr(r, k) / r.wall_s for k in PARTS}
    print(f"{r.method + '/' + r.forget_set:<38}{r.wall_s:>8.1f}" + "".join(f"{100 * v:>6.1f}%" for v in shares.values())
          + f"  {max(shares, key=shares.get)[:-2]}")
shares = {k: float(total[k] / total["wall_s"]) for k in PARTS}
print(f"{'TOTAL':<38}{total['wall_s']:>8.1f}" + "".join(f"{100 * v:>6.1f}%" for v in shares.values()))
print("\ntotal seconds: " + ", ".join(f"{k[:-2]} {total[k]:.1f}" for k in PARTS) + f" (wall {total['wall_s']:.1f})")
largest = max(shares, key=shares.get)
print(f"largest share overall: {largest[:-2]} ({100 * shares[largest]:.1f}% of unlearning wall time)")
evaluated = df["generation_s"] + df["scoring_s"]
print(f"evaluation (generation + scoring) / optimiser steps: {evaluated.sum() / df['optimiser_s'].sum():.1f}x")
tag = "" if R == Path("results") else "_" + re.sub(r"\W+", "_", a.results).strip("_")
out = Path(a.bench_dir) / f"evaluation_cost{tag}.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps({"command": sys.argv, "jobs": rows, "total_s": {k: float(v) for k, v in total.items()},
                           "shares": shares, "largest": largest}, indent=1))
print(f"wrote {out}")
