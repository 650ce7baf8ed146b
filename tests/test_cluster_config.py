"""The GPU presets: config/cluster.yaml and config/paper.yaml are valid, their dry runs
schedule the job counts their headers state, paper.yaml's model has the size it states,
and paper.yaml in miniature runs through the whole pipeline."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from unlearn_study.infra.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def stated(config: str, pattern: str) -> float:
    return float(re.search(pattern, (ROOT / "config" / config).read_text())[1].replace(",", ""))


def placeholder_corpus(tmp_path) -> Path:
    """An overlay pointing paper.yaml's corpus at two existing files, for dry runs: the
    WMT files are the user's, and a missing input file is an error before any job."""
    for name in ("train.de", "train.en"):
        (tmp_path / name).write_text("ein Satz\n")
    overlay = tmp_path / "corpus.yaml"
    files = {"src_file": str(tmp_path / "train.de"), "tgt_file": str(tmp_path / "train.en")}
    overlay.write_text(yaml.safe_dump({"corpus": {"files": files}, "results_dir": str(tmp_path / "results")}))
    return overlay


def dry_run_total(*configfiles) -> int:
    run = subprocess.run(
        [SNAKEMAKE, "-n", "--quiet", "rules", "--configfile", *map(str, configfiles)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    total = re.search(r"^total\s+(\d+)", run.stdout + run.stderr, re.M)
    return int(total[1])


def test_cluster_config_dry_run_has_the_stated_jobs(tmp_path):
    config = load_config(ROOT / "config" / "cluster.yaml")
    assert config["unlearning"]["calibration"]["mode"] == "auto" and len(config["model"]["seeds"]) == 4
    overlay = tmp_path / "results.yaml"
    overlay.write_text(yaml.safe_dump({"results_dir": str(tmp_path)}))
    assert dry_run_total("config/cluster.yaml", overlay) == stated("cluster.yaml", r"([\d,]+) in all")


def test_cluster_config_through_the_slurm_profile_submits_the_stated_group_jobs(tmp_path):
    """profiles/slurm groups the small jobs: the dry run lists group jobs of at most the
    group size (24 by default) and, with the jobs outside groups, the stated number of
    SLURM submissions, with every job of the study still scheduled."""
    overlay = tmp_path / "results.yaml"
    overlay.write_text(yaml.safe_dump({"results_dir": str(tmp_path)}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UNLEARN_SLURM_", "SLURM_", "MLFLOW_"))}
    run = subprocess.run(
        [SNAKEMAKE, "-n", "--workflow-profile", "profiles/slurm", "--configfile", "config/cluster.yaml", str(overlay)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-2000:]
    # a group job's line, then its jobs indented; the other jobs unindented
    sections = re.split(r"^\[[^\]\n]*\] Group job (\w+) \(jobs in lexicogr\. order\):$", log, flags=re.M)
    groups = [
        (name, re.findall(r"^    rule (\w+):$", body, re.M)) for name, body in zip(sections[1::2], sections[2::2])
    ]
    single = [rule for rule, body in re.findall(r"^rule (\w+):\n((?:    .*\n)*)", log, re.M) if "    output: " in body]
    grouped = [rule for _, rules in groups for rule in rules]
    assert len(grouped) + len(single) + 1 == stated("cluster.yaml", r"([\d,]+) in all")  # + rule all
    assert len(groups) + len(single) == stated("cluster.yaml", r"([\d,]+) submissions")
    assert {"unlearn", "select_forget_set"} <= set(grouped) and not {"unlearn", "select_forget_set"} & set(single)
    sizes = {name: max(len(rules) for n, rules in groups if n == name) for name, _ in groups}
    assert sizes["unlearn"] == sizes["forget_sets"] == 24


def test_paper_config_is_the_authors_design_and_schedules_the_stated_jobs(tmp_path):
    overlay = placeholder_corpus(tmp_path)
    config = load_config(ROOT / "config" / "paper.yaml", overlay)
    assert config["id_sets"]["repetitions"] == config["canaries"]["repetitions"] == [1, 10, 100]
    assert config["id_sets"]["per_level"] == config["canaries"]["per_level"] == 512
    assert config["canaries"]["n_population"] == 10_000 and config["canaries"]["format"] == "secret"
    assert config["model"]["max_update"] == 45_000 and config["unlearning"]["optimizer"] == "adafactor"
    assert dry_run_total("config/paper.yaml", overlay) == stated("paper.yaml", r"([\d,]+) in all")


def test_paper_model_has_the_stated_size():
    from unlearn_study.backends.fairseq.training import parameter_count

    config = load_config(ROOT / "config" / "paper.yaml", {"corpus": {"source": "bible"}})
    millions = parameter_count(config["model"], config["subword"]["vocab_size"]) / 1e6
    assert round(millions, 1) == stated("paper.yaml", r"([\d.]+)M parameters")


@pytest.mark.integration
def test_the_paper_preset_in_miniature_runs_end_to_end(tmp_path):
    results = tmp_path / "results"
    overlay = tmp_path / "results.yaml"
    overlay.write_text(yaml.safe_dump({"results_dir": str(results)}))
    run = subprocess.run(
        [SNAKEMAKE, "--cores", "2", "--configfile", "config/paper.yaml", "config/paper-tiny.yaml", str(overlay)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env={k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    units = pd.read_parquet(results / "summary/forget_sets.parquet")
    assert set(units["batch"]) == {"2", "all"} and set(units["method"]) == {"gradient_ascent", "npo"}
    claims = pd.read_parquet(results / "summary/claims.parquet")
    assert {"1", "3", "9", "pooled (equal weight)"} <= set(claims["repetitions"])
    canaries = pd.read_parquet(results / "data/sets/canaries.parquet")
    assert (canaries["src"] == "My secret is").all() and canaries["tgt"].str.len().eq(10).all()
