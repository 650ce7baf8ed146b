"""Rule select_id_sets: the ID candidates and the ID population, drawn from train."""

import pandas as pd

from unlearn_study.data import sets
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "select_id_sets")
with job(snakemake) as run:
    p = snakemake.params
    candidates, population, retained = sets.select_id_sets(
        pd.read_parquet(snakemake.input.train),
        per_level=p.per_level,
        repetitions=p.repetitions,
        n_population=p.n_population,
        seed=p.seed,
    )
    write_parquet(candidates, snakemake.output.candidates)
    write_parquet(population, snakemake.output.population)
    write_parquet(retained, snakemake.output.retained)
    run.log_metrics({"n_candidates": len(candidates), "n_population": len(population), "n_retained": len(retained)})
