# Entry point of rule select_id_sets; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import select_id_sets, run_job

run_job(snakemake, select_id_sets)  # noqa: F821 - injected by Snakemake
