"""Rule split_halves: every candidate in half A or B, stratified by kind and repetition level."""

import pandas as pd

from unlearn_study.data import sets
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "split_halves")
with job(snakemake) as run:
    halves = sets.split_halves(
        pd.read_parquet(snakemake.input.candidates),
        pd.read_parquet(snakemake.input.canaries),
        seed=snakemake.params.seed,
    )
    write_parquet(halves, snakemake.output[0])
    run.log_metrics({f"n_{kind}_{half}": n for (kind, half), n in halves.groupby(["kind", "half"]).size().items()})
