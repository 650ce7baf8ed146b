# Entry point of rule example_pool; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import example_pool, run_job

run_job(snakemake, example_pool)  # noqa: F821 - injected by Snakemake
