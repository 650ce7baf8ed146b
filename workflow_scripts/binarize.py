# Entry point of rule binarize; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import binarize, run_job

run_job(snakemake, binarize)  # noqa: F821 - injected by Snakemake
