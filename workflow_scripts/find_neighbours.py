"""Rule find_neighbours: each forget example's nearest trained and never-trained examples."""

import pandas as pd

from unlearn_study import neighbours, subword
from unlearn_study.io import write_parquet
from unlearn_study.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "find_neighbours")
with job(snakemake) as run:
    inputs = snakemake.input
    trained, never_trained = neighbours.candidates(
        pd.read_parquet(inputs.table), pd.read_parquet(inputs.retained), subword.load(inputs.spm)
    )
    result = neighbours.nearest(pd.read_parquet(inputs.forget), trained, never_trained, k=snakemake.params.k)
    write_parquet(result, snakemake.output[0])
    run.log_metrics(result.groupby("group")["similarity"].mean().rename(lambda g: f"{g}_similarity_mean").to_dict())
