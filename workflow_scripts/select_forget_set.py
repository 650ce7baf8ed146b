"""Rule select_forget_set: one forget set, a seeded sample of the bucket its name describes."""

import pandas as pd

from unlearn_study import forget_sets
from unlearn_study.io import write_parquet
from unlearn_study.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "select_forget_set")
with job(snakemake) as run:
    chosen = forget_sets.select(
        pd.read_parquet(snakemake.input.table),
        snakemake.wildcards.forget_set,
        size=snakemake.params.size,
        seed=snakemake.params.seed,
    )
    write_parquet(chosen, snakemake.output[0])
    run.log_metrics({"size": len(chosen)})
