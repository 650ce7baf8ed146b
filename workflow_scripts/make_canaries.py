# Entry point of rule make_canaries; the logic lives in unlearn_study.jobs.
from unlearn_study.jobs import make_canaries, run_job

run_job(snakemake, make_canaries)  # noqa: F821 - injected by Snakemake
