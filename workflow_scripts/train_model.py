# Entry point of rule train_model; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import train_model, run_job

run_job(snakemake, train_model)  # noqa: F821 - injected by Snakemake
