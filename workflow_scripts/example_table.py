# Entry point of rule example_table; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import example_table, run_job

run_job(snakemake, example_table)  # noqa: F821 - injected by Snakemake
