"""config/cluster.yaml: valid, and its dry run schedules the job count its header states."""

import re
import subprocess
import sys
from pathlib import Path

from unlearn_study.infra.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def test_cluster_config_dry_run_has_the_stated_jobs(tmp_path):
    config = load_config(ROOT / "config" / "cluster.yaml")
    assert config["unlearning"]["calibration"]["mode"] == "auto" and len(config["model"]["seeds"]) == 4
    stated = int(re.search(r"([\d,]+) in all", (ROOT / "config" / "cluster.yaml").read_text())[1].replace(",", ""))
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "-n",
            "--quiet",
            "rules",
            "--configfile",
            "config/cluster.yaml",
            "--config",
            f"results_dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    total = re.search(r"^total\s+(\d+)", run.stdout + run.stderr, re.M)
    assert total and int(total[1]) == stated
