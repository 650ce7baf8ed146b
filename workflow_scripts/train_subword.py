# Entry point of rule train_subword; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import train_subword, run_job

run_job(snakemake, train_subword)  # noqa: F821 - injected by Snakemake
