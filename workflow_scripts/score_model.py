# Entry point of rule score_model; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import score_model, run_job

run_job(snakemake, score_model)  # noqa: F821 - injected by Snakemake
