"""Rule example_table: every model's scores joined into memorisation, difficulty,
terciles and exposure per example, with the figures of the scores before unlearning."""

import pandas as pd

from unlearn_study import examples, plots
from unlearn_study.io import write_parquet
from unlearn_study.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "example_table")
with job(snakemake) as run:
    inputs, output = snakemake.input, snakemake.output
    pool = pd.read_parquet(inputs.pool)

    def aligned(paths):
        return [pd.read_parquet(p).set_index("example_id").loc[pool["example_id"], "bits"].to_numpy() for p in paths]

    table = examples.example_table(pool, base_bits=aligned(inputs.base), ref_bits=aligned(inputs.reference))
    write_parquet(table, output.table)
    plots.memorisation_vs_difficulty(table, output.mem_vs_diff)
    plots.exposure_by_repetition(table, output.exposure)
    run.log_metrics(examples.summary(table))
    for path in output:
        run.log_artifact(path)
