"""Rule base_evaluation: step 0 of every unlearning job that starts from this model,
evaluated once (populations, test set, retain sample, test translations)."""

import numpy as np
import pandas as pd

from unlearn_study import eval_sets, scoring, subword, unlearning
from unlearn_study.stage import device, job, snakemake_object

snakemake = snakemake_object(globals(), "base_evaluation")
with job(snakemake) as run:
    inputs, p = snakemake.input, snakemake.params
    sp = subword.load(inputs.spm)
    model = scoring.load_model(inputs.checkpoint, inputs.data, device=device(snakemake))
    test = subword.with_pieces(pd.read_parquet(inputs.test), sp)
    retain_eval, _ = eval_sets.retain_split(pd.read_parquet(inputs.retained), sample=p.retain_sample, seed=p.seed)
    evaluated = eval_sets.parts(pd.read_parquet(inputs.table), test, subword.with_pieces(retain_eval, sp), p.kinds)
    timings = {"generation_s": 0.0, "scoring_s": 0.0}
    generation = unlearning.Generation(
        **p.generation, max_tokens=snakemake.config["unlearning"]["generation"]["max_tokens"]
    )

    def encoded(name):
        return eval_sets.encode(model, evaluated[name][0], p.max_tokens)

    result = unlearning.model_evaluation(
        model,
        {kind: encoded(f"population_{kind}") for kind in p.kinds},
        encoded("test"),
        encoded("retain"),
        lambda pieces: subword.decode(sp, pieces),
        generation,
        timings,
    )
    eval_sets.write_base_evaluation(result, evaluated, snakemake.output[0])
    run.log_metrics(
        {
            "test_bpt": float(np.mean(result.test_bpt)),
            "retain_bpt": float(np.mean(result.retain_bpt)),
            **{f"time_{k}": v for k, v in timings.items()},
        }
    )
