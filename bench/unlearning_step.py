"""One gradient-ascent step of the project vs one fairseq-train update, same model and batch.

project : unlearning.Optimisation.step(), the timed region of unlearning.unlearn
          (optimiser_s): next batch of the forget stream, the loss of
          methods.create('gradient_ascent') = -mean sequence_nll (eval mode, dropout off),
          finiteness check, zero_grad, backward, clip_grad_norm_, optimiser step, loss.item().
          The Optimisation is built as the unlearning job builds it: its EvalData from
          evaluation.job_data (the rule's set-up, with --config's settings) with the batch's
          rows as the forget set, and unlearning.Settings from --config's unlearning block
          (optimizer, lr, clip_norm, seed), one batch = the whole forget set.
fairseq : fairseq's own Trainer.train_step([sample]) built in-process like fairseq_cli.train
          from the checkpoint's cfg (label-smoothed CE, Adam, clip-norm, inverse_sqrt lr),
          on the same pre-collated batch; timed with dropout as trained (0.1, what
          fairseq-train does) and with dropout off (the same arithmetic as the project step).
All three are timed interleaved, --reps times after --warmup untimed rounds. The model
is the one the forget set's unlearning jobs start from: its half's (--half changes it),
seed --seed (default: the first of --config's model.seeds).
"""

import json
import os
import shlex
import sys
import time
from pathlib import Path

import common
import numpy as np
import pandas as pd
import torch

from unlearn_study import methods
from unlearn_study.backends.fairseq import scoring
from unlearn_study.infra import paths
from unlearn_study.study import unlearning

METHOD = "gradient_ascent"

p = common.parser(__doc__, threads=True)
p.add_argument("--forget-set", default="id-difficulty-easy-r1")
p.add_argument("--batch-size", type=int, default=10, help="first N rows of the forget set, then of the pool")
p.add_argument("--reps", type=int, default=30)
p.add_argument("--warmup", type=int, default=3)
common.add_model_options(p, "the study config of --results", half_default="the forget set's half")
a = p.parse_args()
common.check_forget_set(p, a.forget_set)
common.setup_torch(a)
P = paths.under(a.results)
CONFIG = common.study_config(a.config)
HALF, SEED, CKPT, DATA = common.model_paths(a, P, CONFIG, forget_set=a.forget_set)

rows = pd.concat([pd.read_parquet(P.forget_set.format(forget_set=a.forget_set)), pd.read_parquet(P.pool)])
rows = rows.drop_duplicates("example_id").head(a.batch_size)

# ---- project: the unlearning job's Optimisation, on these rows as its forget set ---------
proj = scoring.load_model(CKPT, DATA, device=a.device)
method = methods.create(METHOD, CONFIG["unlearning"]["method_args"].get(METHOD))
data = common.unlearning_job_data(P, CONFIG, proj, a.forget_set, needs_retain=method.needs_retain, forget=rows)
settings = unlearning.Settings(
    **{k: CONFIG["unlearning"][k] for k in ("optimizer", "lr", "steps", "eval_steps", "clip_norm", "seed")},
    batch_size=None,  # the whole forget set (the rows) per step
    retain_batch_size=CONFIG["unlearning"]["retain_batch_size"] if method.needs_retain else None,
)
optimisation = unlearning.Optimisation(proj, data, method, settings)
enc, params = data.forget_pairs, optimisation.params


def sync():
    if a.device == "cuda":
        torch.cuda.synchronize()


# ---- fairseq: Trainer built from the checkpoint's cfg (as fairseq_cli.train does) ------
from fairseq import checkpoint_utils, tasks  # noqa: E402 - after the project's own timing
from fairseq.modules import FairseqDropout  # noqa: E402
from fairseq.trainer import Trainer  # noqa: E402

state = checkpoint_utils.load_checkpoint_to_cpu(str(CKPT))
cfg = state["cfg"]
cfg.task.data, cfg.common.cpu = str(DATA), a.device == "cpu"
task = tasks.setup_task(cfg.task)
fs_model, criterion = task.build_model(cfg.model), task.build_criterion(cfg.criterion)
fs_model.load_state_dict(state["model"])
trainer = Trainer(cfg, task, fs_model, criterion)
b = scoring.collate(list(range(len(enc))), enc.src_tokens, enc.tgt_tokens, proj.tgt_dict.pad(), proj.tgt_dict.eos())
sample = {
    "id": b.indices,
    "nsentences": len(b),
    "ntokens": int(b.target_mask.sum()),
    "target": b.target,
    "net_input": {"src_tokens": b.src_tokens, "src_lengths": b.src_lengths, "prev_output_tokens": b.prev_output_tokens},
}
dropouts = [m for m in fs_model.modules() if isinstance(m, FairseqDropout)]
trained_p = [m.p for m in dropouts]


def fairseq_step(dropout_on):
    for m, p0 in zip(dropouts, trained_p):
        m.p = p0 if dropout_on else 0.0
    out = trainer.train_step([sample])
    assert out is not None and np.isfinite(float(out["loss"]))


steps = {
    "project": optimisation.step,
    "fairseq_dropout": lambda: fairseq_step(True),
    "fairseq_no_dropout": lambda: fairseq_step(False),
}
T = {k: [] for k in steps}
LOAD = [os.getloadavg()[0]]
for rep in range(a.warmup + a.reps):
    for k, f in steps.items():
        sync()
        t = time.perf_counter()
        f()
        sync()
        if rep >= a.warmup:
            T[k].append(1000 * (time.perf_counter() - t))

LOAD.append(os.getloadavg()[0])
med = {k: float(np.median(v)) for k, v in T.items()}
ratios = {
    "project_vs_fairseq_dropout": med["project"] / med["fairseq_dropout"],
    "project_vs_fairseq_no_dropout": med["project"] / med["fairseq_no_dropout"],
}
print(f"command: {' '.join(map(shlex.quote, [sys.executable, *sys.argv]))}")
print(
    f"batch: {len(enc)} pairs from {a.forget_set}, model {HALF}/seed{SEED} ({sample['ntokens']} target tokens incl. EOS, "
    f"padded {tuple(b.target.shape)}); device={a.device} threads={a.threads}; {a.reps} reps after {a.warmup} warm-up"
)
print(f"project optimisation: {METHOD}, {settings.optimizer} lr {settings.lr:g}, clip_norm {settings.clip_norm:g}")
print(
    f"model: {sum(q.numel() for q in params):,} parameters; 1-min load average {LOAD[0]:.1f} at start, "
    f"{LOAD[1]:.1f} at end ({os.cpu_count()} CPUs)\n"
)
print(f"{'step':<22}{'median ms':>10}{'p25 ms':>9}{'p75 ms':>9}")
for k, v in T.items():
    print(f"{k:<22}{med[k]:>10.1f}{np.percentile(v, 25):>9.1f}{np.percentile(v, 75):>9.1f}")
print()
for k, v in ratios.items():
    print(f"{k:<32}{v:6.2f}x  (time ratio; target <= 1.2x)")
out = Path(a.bench_dir) / f"unlearning_step{common.results_tag(a.results)}_t{a.threads}.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(
    json.dumps(
        {
            "command": sys.argv,
            "device": a.device,
            "threads": a.threads,
            "forget_set": a.forget_set,
            "model": {"half": HALF, "seed": SEED},
            "batch_size": len(enc),
            "project_settings": {"method": METHOD, "optimizer": settings.optimizer, "lr": settings.lr},
            "target_tokens": sample["ntokens"],
            "reps": a.reps,
            "times_ms": T,
            "median_ms": med,
            "ratios": ratios,
            "loadavg_1min": LOAD,
        },
        indent=1,
    )
)
print(f"wrote {out}")
