# Entry point of rule base_evaluation; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import base_evaluation, run_job

run_job(snakemake, base_evaluation)  # noqa: F821 - injected by Snakemake
