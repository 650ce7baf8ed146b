"""Rule base_evaluation: step 0 of every unlearning job that starts from this model,
evaluated once (populations, test set, retain sample, test translations)."""

from unlearn_study.infra.stage import snakemake_object
from unlearn_study.infra.warm import hand_to_worker

snakemake = snakemake_object(globals(), "base_evaluation")
# In the job process this ends the script: the model's warm worker runs it (infra/warm.py).
hand_to_worker(snakemake, snakemake.input.checkpoint, snakemake.input.data)

import numpy as np
import pandas as pd

from unlearn_study.backends.fairseq.generation import Generation
from unlearn_study.data import subword
from unlearn_study.infra.stage import device, job
from unlearn_study.infra.warm import load_model
from unlearn_study.study import evaluation

with job(snakemake) as run:
    inputs, p = snakemake.input, snakemake.params
    sp = subword.load(inputs.spm)
    model = load_model(inputs.checkpoint, inputs.data, device(snakemake))
    test = subword.with_pieces(pd.read_parquet(inputs.test), sp)
    retain_eval, _ = evaluation.retain_split(pd.read_parquet(inputs.retained), sample=p.retain_sample, seed=p.seed)
    evaluated = evaluation.parts(
        pd.read_parquet(inputs.table),
        test,
        subword.with_pieces(retain_eval, sp),
        p.kinds,
        population_size=p.population_sample,
        seed=p.seed,
    )
    timings = {"generation_s": 0.0, "scoring_s": 0.0}

    def encoded(name):
        return evaluation.encode(model, evaluated[name][0], snakemake.resources.scoring_tokens)

    result = evaluation.model_evaluation(
        model,
        {kind: encoded(f"population_{kind}") for kind in p.kinds},
        encoded("test"),
        encoded("retain"),
        lambda pieces: subword.decode(sp, pieces),
        Generation(**p.generation, max_tokens=snakemake.resources.generation_tokens),
        timings,
    )
    evaluation.write_base_evaluation(result, evaluated, snakemake.output[0], model.computed_on())
    run.set_tags(model.computed_on())
    run.log_metrics(
        {
            "test_bpt": float(np.mean(result.test_bpt)),
            "retain_bpt": float(np.mean(result.retain_bpt)),
            **{f"time_{k}": v for k, v in timings.items()},
        }
    )
