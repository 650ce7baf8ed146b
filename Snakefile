# Unlearning in- vs out-of-distribution data (Baluta et al., 2024) with fairseq models.
# Run: `make run` (or `snakemake --profile profiles/default`); see README.md.
import functools
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("8.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from unlearn_study import methods, metrics  # noqa: E402
from unlearn_study.data import sources as corpus_sources  # noqa: E402
from unlearn_study.infra import paths, tracking  # noqa: E402
from unlearn_study.infra.config import validate_config  # noqa: E402
from unlearn_study.infra.provenance import code_hash  # noqa: E402
from unlearn_study.study.forget_sets import forget_set_names  # noqa: E402
from unlearn_study.study.forget_sets import parse as parse_forget_set  # noqa: E402
from unlearn_study.study.kinds import HALVES  # noqa: E402
from unlearn_study.study.batches import batch_label, batch_size  # noqa: E402


configfile: "config.yaml"


validate_config(config)
R = config["results_dir"]
P = paths.under(R)
SEEDS = config["model"]["seeds"]
UNLEARN_SEEDS = config["unlearning"]["seeds"]
FORGET_SETS = forget_set_names(config)
METHODS = config["unlearning"]["methods"]
BATCHES = [batch_label(size) for size in config["unlearning"]["batch_sizes"]]


wildcard_constraints:
    half="|".join(HALVES),
    seed=r"\d+",
    forget_set="|".join(FORGET_SETS),
    method="|".join(METHODS),
    batch="|".join(BATCHES),


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/score.smk"
include: "rules/unlearn.smk"
include: "rules/audit.smk"


rule all:
    default_target: True
    input:
        rules.example_table.output,
        rules.summarise.output,


onstart:
    tracking.start_parent_run(config, R, workflow.basedir, command=" ".join(sys.argv))


onsuccess:
    tracking.end_parent_run(R, success=True)


onerror:
    tracking.end_parent_run(R, success=False)
