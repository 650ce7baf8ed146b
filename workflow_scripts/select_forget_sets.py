# Entry point of rule select_forget_sets; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import select_forget_sets, run_job

run_job(snakemake, select_forget_sets)  # noqa: F821 - injected by Snakemake
