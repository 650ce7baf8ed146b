# Entry point of rule unlearn; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import run_job, unlearn

run_job(snakemake, unlearn)  # noqa: F821 - injected by Snakemake
