"""Batch size (token budget per batch) vs speed: scoring and translation, project and fairseq.

For each --max-tokens value, interleaved, --reps times:
  score     : unlearn_study.backends.fairseq.scoring.score() on the --pairs scoring pairs (as bench/scoring.py),
              with the process's minor page faults during the call;
  fairseq   : `fairseq-generate --score-reference` on the same pairs, its own scoring timer;
  translate : unlearn_study.backends.fairseq.generation.translate() of the study's test set (generation settings
              of --config), and how many hypotheses equal those of the first --max-tokens value.
The scores of every setting are compared with the first one's (max |difference| in bits/token).
The model is that of --half and --seed (by default half A, the first of --config's model.seeds).
"""

import dataclasses
import json
import os
import resource
import shlex
import sys
import time
from pathlib import Path

import common
import numpy as np
import pandas as pd

from unlearn_study.backends.fairseq import generation as fairseq_generation
from unlearn_study.backends.fairseq import scoring
from unlearn_study.data import subword
from unlearn_study.infra import paths
from unlearn_study.metrics import core as metrics

p = common.parser(__doc__, threads=True)
p.add_argument("--pairs", type=int, default=2000)
p.add_argument("--max-tokens", default="8000,4000,2000,1000", help="comma-separated token budgets")
p.add_argument("--reps", type=int, default=3)
common.add_model_options(p, "translate as this study config does")
a = p.parse_args()
common.setup_torch(a)
P = paths.under(a.results)
CONFIG = common.study_config(a.config)
HALF, SEED, CKPT, DATA = common.model_paths(a, P, CONFIG)
ENV = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
BUDGETS = [int(x) for x in a.max_tokens.split(",")]
data_dir, src, tgt = common.scoring_subset(a.results, DATA, a.bench_dir, a.pairs)
model = scoring.load_model(CKPT, data_dir, device=a.device)
sp = subword.load(P.spm)
test = subword.with_pieces(pd.read_parquet(P.test), sp)
pairs = {mt: scoring.encode_pairs(model.src_dict, model.tgt_dict, src, tgt, max_tokens=mt) for mt in BUDGETS}
test_pairs = scoring.encode_pairs(model.src_dict, model.tgt_dict, test["src_pieces"], test["tgt_pieces"])
generation = fairseq_generation.Generation(**CONFIG["unlearning"]["generation"])


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


LOAD = [os.getloadavg()[0]]
scoring.score(model, pairs[BUDGETS[0]])  # warm-up
T = {(part, mt): [] for mt in BUDGETS for part in ("score", "fairseq", "translate")}
faults, bpt, hyps = {}, {}, {}
for rep in range(a.reps):
    for mt in BUDGETS:
        f0, t = minor_faults(), time.perf_counter()
        bits = scoring.score(model, pairs[mt])
        T["score", mt].append(time.perf_counter() - t)
        faults[mt] = minor_faults() - f0
        bpt[mt] = metrics.bits_per_token(bits, pairs[mt].target_lengths)
        T["fairseq", mt].append(
            common.run_fairseq_score_reference(common.fairseq_score_reference_cmd(data_dir, CKPT, mt, a.device), ENV)[1]
        )
        t = time.perf_counter()
        hyps[mt] = fairseq_generation.translate(
            model, test_pairs, lambda s: subword.decode(sp, s), dataclasses.replace(generation, max_tokens=mt)
        )
        T["translate", mt].append(time.perf_counter() - t)
    print(f"rep {rep}: " + "  ".join(f"{k[0]}@{k[1]}={v[-1]:.2f}s" for k, v in T.items()), flush=True)
LOAD.append(os.getloadavg()[0])

med = {k: float(np.median(v)) for k, v in T.items()}
first = BUDGETS[0]
print(f"\ncommand: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(
    f"model {HALF}/seed{SEED}; pairs={a.pairs} test pairs={len(test_pairs)} device={a.device} threads={a.threads} reps={a.reps} (medians); "
    f"1-min load average {LOAD[0]:.1f} at start, {LOAD[1]:.1f} at end ({os.cpu_count()} CPUs)\n"
)
print(
    f"{'max_tokens':>10}{'batches':>9}{'score s':>9}{'faults':>9}{'fairseq s':>11}{'ratio':>7}"
    f"{'max |Δ| bits/tok':>18}{'translate s':>13}{'same hyps':>11}"
)
for mt in BUDGETS:
    same = sum(x == y for x, y in zip(hyps[mt], hyps[first]))
    print(
        f"{mt:>10}{len(pairs[mt].batches):>9}{med['score', mt]:>9.3f}{faults[mt]:>9}{med['fairseq', mt]:>11.3f}"
        f"{med['fairseq', mt] / med['score', mt]:>6.2f}x{np.abs(bpt[mt] - bpt[first]).max():>18.1e}"
        f"{med['translate', mt]:>13.3f}{same:>6}/{len(hyps[mt])}"
    )
best_score = min(BUDGETS, key=lambda mt: med["score", mt])
best_fairseq = min(BUDGETS, key=lambda mt: med["fairseq", mt])
print(
    f"\nscore: fastest at max_tokens {best_score}, {med['score', first] / med['score', best_score]:.2f}x faster than at {first}; "
    f"fairseq: fastest at {best_fairseq}; each at its best: {med['fairseq', best_fairseq] / med['score', best_score]:.2f}x"
)
print(
    "ratio = fairseq's own scoring time / project score() time at the same max_tokens; faults = minor page "
    "faults during the last score() call"
)
out = Path(a.bench_dir) / f"batch_size{common.results_tag(a.results)}_t{a.threads}.json"
out.write_text(
    json.dumps(
        {
            "command": sys.argv,
            "pairs": a.pairs,
            "model": {"half": HALF, "seed": SEED},
            "device": a.device,
            "threads": a.threads,
            "reps": a.reps,
            "max_tokens": BUDGETS,
            "times_s": {f"{k[0]}@{k[1]}": v for k, v in T.items()},
            "median_s": {f"{k[0]}@{k[1]}": v for k, v in med.items()},
            "minor_faults": faults,
            "loadavg_1min": LOAD,
        },
        indent=1,
    )
)
print(f"wrote {out}")
