"""Rule example_table: every model's scores joined into in/out losses, memorisation,
difficulty, terciles and exposure per example, with the figures of the scores before
unlearning."""

import pandas as pd

from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object
from unlearn_study.reporting import figures
from unlearn_study.study import examples

snakemake = snakemake_object(globals(), "example_table")
with job(snakemake) as run:
    inputs, output = snakemake.input, snakemake.output
    pool = pd.read_parquet(inputs.pool)
    bits, extracted = {}, {}
    for model, path in zip(snakemake.params.models, inputs.scores, strict=True):
        scores = pd.read_parquet(path).set_index("example_id").loc[pool["example_id"]]
        bits[(model["half"], model["seed"])] = scores["bits"].to_numpy()
        extracted[(model["half"], model["seed"])] = scores["extracted"].to_numpy()
    table = examples.example_table(pool, pd.read_parquet(inputs.halves), bits, extracted)
    write_parquet(table, output.table)
    figures.memorisation_vs_difficulty(table, output.mem_vs_diff)
    figures.exposure_by_repetition(table, output.exposure)
    run.log_metrics(examples.summary(table))
    for path in output:
        run.log_artifact(path)
