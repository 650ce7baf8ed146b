# Entry point of rule summarise; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import run_job, summarise

run_job(snakemake, summarise)  # noqa: F821 - injected by Snakemake
