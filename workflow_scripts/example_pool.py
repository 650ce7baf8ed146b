"""Rule example_pool: every example the models score, with its subword pieces."""

import pandas as pd

from unlearn_study.data import subword
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object
from unlearn_study.study import examples

snakemake = snakemake_object(globals(), "example_pool")
with job(snakemake) as run:
    tables = {
        name: pd.read_parquet(snakemake.input[name])
        for name in ("candidates", "population", "canaries", "canary_population", "test")
    }
    pool = examples.scoring_pool(
        **tables,
        test_sample=snakemake.params.test_sample,
        seed=snakemake.params.seed,
        sp=subword.load(snakemake.input.spm),
    )
    write_parquet(pool, snakemake.output[0])
    run.log_metrics(pool["kind"].value_counts().rename(lambda k: f"n_{k}").to_dict())
