"""Rule prepare_corpus: read, clean and split the parallel corpus."""

from unlearn_study.data import corpus
from unlearn_study.infra.io import write_json, write_parquet
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "prepare_corpus")
with job(snakemake) as run:
    splits, counts = corpus.prepare(snakemake.params.corpus)
    for name in ("train", "valid", "test"):
        write_parquet(splits[name], snakemake.output[name])
    write_json(counts, snakemake.output.stats)
    run.log_metrics(counts)
