"""Rule select_forget_set: one forget set (a seeded block of its half's bucket members)
and each member's nearest trained and never-trained neighbours."""

import pandas as pd

from unlearn_study.data import subword
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object
from unlearn_study.study import forget_sets, neighbours

snakemake = snakemake_object(globals(), "select_forget_set")
with job(snakemake) as run:
    inputs, output, p, name = snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards.forget_set
    table = pd.read_parquet(inputs.table)
    chosen = forget_sets.select(table, name, size=p.size, seed=p.seed)
    write_parquet(chosen, output.forget)
    described = forget_sets.parse(name)
    trained, never_trained = neighbours.candidates(
        table, pd.read_parquet(inputs.retained), subword.load(inputs.spm), half=described.half, kind=described.kind
    )
    result = neighbours.nearest(chosen, trained, never_trained, k=p.k)
    write_parquet(result, output.neighbours)
    similarity = result.groupby("group")["similarity"].mean().rename(lambda g: f"{g}_similarity_mean").to_dict()
    run.log_metrics({"size": len(chosen), **similarity})
