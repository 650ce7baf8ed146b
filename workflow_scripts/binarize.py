"""Rule binarize: one model's training data, subword-encoded and binarized by fairseq."""

from pathlib import Path

import pandas as pd

from unlearn_study import binarize, subword
from unlearn_study.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "binarize")
with job(snakemake) as run:
    inputs, model = snakemake.input, snakemake.wildcards.model
    sp = subword.load(inputs.spm)
    optional = {
        name: pd.read_parquet(inputs[name]) if name in inputs.keys() else None for name in ("candidates", "canaries")
    }
    train = binarize.training_pairs(model, pd.read_parquet(inputs.retained), sp=sp, **optional)
    binarize.binarize(
        train,
        pd.read_parquet(inputs.valid),
        pd.read_parquet(inputs.test),
        sp,
        dict_path=Path(inputs.dictionary),
        out_dir=Path(snakemake.output[0]),
        log_path=Path(snakemake.log[0]),
    )
    run.log_metrics({"train_pairs": len(train[0])})
