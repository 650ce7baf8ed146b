"""What every workflow script shares: its log file, its MLflow run, and running it by hand.

A script in ``workflow_scripts/`` is the glue of one rule: it takes its paths, params
and wildcards from the ``snakemake`` object and calls library functions with them. Run
by Snakemake, that object is injected; run by hand, :func:`snakemake_object` builds the
same object from the Snakefile, for debugging a stage outside Snakemake::

    python workflow_scripts/find_neighbours.py forget_set=id-difficulty-easy-r1 \\
        --configfile config/tiny.yaml

(wildcards as ``name=value``; ``--configfile`` overlays ``config.yaml`` as on the
Snakemake command line). The inputs must exist; the outputs and the log are written
where Snakemake would write them.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from unlearn_study.infra import tracking

ROOT = Path(__file__).resolve().parents[3]
log = logging.getLogger("unlearn_study")


def snakemake_object(script_globals: dict, rule: str, argv: list[str] | None = None):
    """The ``snakemake`` object Snakemake injected into the script, or, when the script is
    run by hand, the one Snakemake would inject for ``rule`` with the wildcards and
    config files given on the command line (``argv``, default ``sys.argv[1:]``)."""
    if "snakemake" in script_globals:
        return script_globals["snakemake"]
    parser = argparse.ArgumentParser(description=f"Run rule {rule} by hand (outside Snakemake).")
    parser.add_argument("wildcards", nargs="*", metavar="NAME=VALUE")
    parser.add_argument("--configfile", nargs="*", default=[], help="config files overlaying config.yaml")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    wildcards = dict(item.split("=", 1) for item in args.wildcards)
    return mock_snakemake(rule, [Path(c).resolve() for c in args.configfile], **wildcards)


def mock_snakemake(rule: str, configfiles=(), **wildcards):
    """Build the job of ``rule`` with ``wildcards`` from the Snakefile, as Snakemake would,
    and return its ``snakemake`` object (paths relative to the repository root, which
    becomes the working directory). Uses Snakemake's internal DAG and Job classes
    (tested with the pinned Snakemake: tests/test_stages.py)."""
    import snakemake as sm
    from snakemake.api import Workflow
    from snakemake.logging import LoggerManager
    from snakemake.logging import logger as snakemake_logger
    from snakemake.script import Snakemake
    from snakemake.settings import types

    os.chdir(ROOT)
    workflow = Workflow(
        types.ConfigSettings(configfiles=[Path(c) for c in configfiles]),
        types.ResourceSettings(),
        types.WorkflowSettings(),
        LoggerManager(snakemake_logger, types.OutputSettings()),
        types.StorageSettings(),
        types.DAGSettings(rerun_triggers=[]),
        deployment_settings=types.DeploymentSettings(),
        storage_provider_settings={},
    )
    workflow.include(str(ROOT / "Snakefile"))
    workflow.global_resources = {}
    job_rule = workflow.get_rule(rule)
    missing = sorted(set(job_rule.wildcard_names) - set(wildcards))
    if missing:
        raise SystemExit(
            f"rule {rule} needs the wildcards {', '.join(sorted(job_rule.wildcard_names))}; "
            f"missing: {', '.join(missing)}"
        )
    job = sm.jobs.Job(job_rule, sm.dag.DAG(workflow, rules=[job_rule]), wildcards)
    for path in [*job.output, *job.log]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return Snakemake(
        job.input,
        job.output,
        job.params,
        job.wildcards,
        job.threads,
        job.resources,
        job.log,
        workflow.config,
        rule,
        None,
    )


@contextlib.contextmanager
def job(smk, run_name: str | None = None):
    """Log to the rule's log file (and stderr) and open the job's MLflow run; yield the run.

    Logged params: the rule's params except the code hash. The log file becomes an
    artifact of the run, also when the stage fails. ``run_name``: what the MLflow UI lists
    (default: the rule and its wildcard values).
    """
    logging.basicConfig(
        filename=smk.log[0],
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    wildcards = dict(smk.wildcards.items())
    with tracking.job_run(smk.rule, wildcards, smk.config, smk.config["results_dir"], run_name=run_name) as run:
        run.log_params({k: v for k, v in smk.params.items() if k != "code"})
        try:
            yield run
        except Exception:
            log.exception("%s failed", smk.rule)
            raise
        finally:
            run.log_artifact(smk.log[0], "logs")


def device(smk) -> str:
    """The torch device of this job (config ``model.device``; a resource, not a param)."""
    from unlearn_study.backends.fairseq.run import torch_device

    return torch_device(smk.config["model"]["device"])


def results_dir(smk) -> str:
    """The study's results directory (config ``results_dir``), where its tracking store lives."""
    return smk.config["results_dir"]
