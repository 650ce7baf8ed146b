# Entry point of rule prepare_corpus; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import prepare_corpus, run_job

run_job(snakemake, prepare_corpus)  # noqa: F821 - injected by Snakemake
