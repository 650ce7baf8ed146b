# Entry point of rule find_neighbours; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import find_neighbours, run_job

run_job(snakemake, find_neighbours)  # noqa: F821 - injected by Snakemake
