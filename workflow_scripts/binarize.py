"""Rule binarize: the training data of one half's models (the shared training pairs plus
the half's candidates), subword-encoded and binarized by fairseq."""

from pathlib import Path

import pandas as pd

from unlearn_study.backends.fairseq import binarize
from unlearn_study.data import subword
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "binarize")
with job(snakemake) as run:
    inputs = snakemake.input
    halves = pd.read_parquet(inputs.halves)
    own = set(halves.loc[halves["half"] == snakemake.wildcards.half, "example_id"])

    def of_half(path):
        table = pd.read_parquet(path)
        return table[table["example_id"].isin(own)]

    sp = subword.load(inputs.spm)
    train = binarize.training_pairs(
        pd.read_parquet(inputs.retained), of_half(inputs.candidates), of_half(inputs.canaries), sp
    )
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
