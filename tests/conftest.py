"""Shared fixtures: a real tiny fairseq translation model trained on CPU in seconds, and one
run of the tiny study (config/tiny.yaml) through Snakemake that the end-to-end tests share."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from unlearn_study.backends.fairseq.run import plugin_dir
from unlearn_study.infra.config import load_config
from unlearn_study.study.forget_sets import forget_set_names

PLUGIN_DIR = plugin_dir()
VOCAB = 40  # pseudo-pieces per side
SRC_LANG, TGT_LANG = "src", "tgt"


def fairseq_cli(name: str) -> str:
    """Path of a fairseq console script from the running interpreter's environment."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not found")
    return found


def run_cli(name: str, *args, cwd=None) -> subprocess.CompletedProcess:
    cmd = [fairseq_cli(name), *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _src_piece(i: int) -> str:
    return f"\u2581s{i}"


def _tgt_piece(i: int) -> str:
    # deterministic bijection of source pieces, so the model can learn a word-by-word map
    return f"\u2581t{(7 * i + 3) % VOCAB}"


def make_pairs(n: int, rng: random.Random, min_len: int = 1, max_len: int = 12):
    src, tgt = [], []
    for _ in range(n):
        ids = [rng.randrange(VOCAB) for _ in range(rng.randint(min_len, max_len))]
        src.append(" ".join(_src_piece(i) for i in ids))
        tgt.append(" ".join(_tgt_piece(i) for i in ids))
    return src, tgt


def read_lines(path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


@dataclass(frozen=True)
class TinyModel:
    root: Path
    raw_dir: Path  # {train,valid,test}.{src,tgt} text (space-separated pieces)
    dict_path: Path  # joined dictionary given to fairseq-preprocess
    data_dir: Path  # binarized (fairseq-preprocess --destdir)
    checkpoint: Path  # checkpoint_last.pt
    plugin_dir: str  # pass as --user-dir to fairseq CLIs

    def raw(self, split: str, lang: str) -> Path:
        return self.raw_dir / f"{split}.{lang}"

    def lines(self, split: str) -> tuple[list[str], list[str]]:
        """(source lines, target lines) of a split, in binarized order."""
        return read_lines(self.raw(split, SRC_LANG)), read_lines(self.raw(split, TGT_LANG))


def build_tiny_model(root: Path, seed: int = 1, max_epoch: int = 25, extra_train_args: tuple = ()) -> TinyModel:
    """Write synthetic data, binarize it and train a tiny transformer under ``root``.

    ``extra_train_args`` are appended to the fairseq-train command (later flags win).
    """
    root = Path(root)
    raw_dir, data_dir, save_dir = root / "raw", root / "data-bin", root / "ckpt"
    for d in (raw_dir, save_dir):
        d.mkdir(parents=True, exist_ok=True)

    rng = random.Random(seed)
    splits = {"train": 300, "valid": 40, "test": 40}
    for split, n in splits.items():
        src, tgt = make_pairs(n, rng)
        (raw_dir / f"{split}.{SRC_LANG}").write_text("\n".join(src) + "\n", encoding="utf-8")
        (raw_dir / f"{split}.{TGT_LANG}").write_text("\n".join(tgt) + "\n", encoding="utf-8")

    dict_path = raw_dir / "dict.txt"
    pieces = [_src_piece(i) for i in range(VOCAB)] + [f"\u2581t{i}" for i in range(VOCAB)]
    dict_path.write_text("".join(f"{p} 100\n" for p in pieces), encoding="utf-8")

    run_cli(
        "fairseq-preprocess",
        "--source-lang",
        SRC_LANG,
        "--target-lang",
        TGT_LANG,
        "--trainpref",
        raw_dir / "train",
        "--validpref",
        raw_dir / "valid",
        "--testpref",
        raw_dir / "test",
        "--destdir",
        data_dir,
        "--joined-dictionary",
        "--srcdict",
        dict_path,
        "--workers",
        "1",
        "--user-dir",
        PLUGIN_DIR,
    )
    run_cli(
        "fairseq-train",
        data_dir,
        "--cpu",
        "--task",
        "translation",
        "--source-lang",
        SRC_LANG,
        "--target-lang",
        TGT_LANG,
        "--arch",
        "transformer",
        "--encoder-layers",
        "1",
        "--decoder-layers",
        "1",
        "--encoder-embed-dim",
        "32",
        "--decoder-embed-dim",
        "32",
        "--encoder-ffn-embed-dim",
        "64",
        "--decoder-ffn-embed-dim",
        "64",
        "--encoder-attention-heads",
        "2",
        "--decoder-attention-heads",
        "2",
        "--max-source-positions",
        "64",
        "--max-target-positions",
        "64",
        "--share-all-embeddings",
        "--dropout",
        "0.1",
        "--optimizer",
        "adam",
        "--lr",
        "5e-3",
        "--criterion",
        "cross_entropy",
        "--max-tokens",
        "120",
        "--max-epoch",
        str(max_epoch),
        # fairseq's default multiple (8) silently drops a last, smaller batch
        # (facebookresearch/fairseq#5036); 1 keeps every pair
        "--required-batch-size-multiple",
        "1",
        "--save-dir",
        save_dir,
        "--disable-validation",  # no per-epoch validation / checkpoint_best (halves time)
        "--no-epoch-checkpoints",
        "--no-save-optimizer-state",
        "--num-workers",
        "0",
        "--seed",
        str(seed),
        "--log-format",
        "simple",
        "--log-interval",
        "100",
        "--no-progress-bar",
        "--user-dir",
        PLUGIN_DIR,
        *extra_train_args,
    )
    checkpoint = save_dir / "checkpoint_last.pt"
    if not checkpoint.exists():
        raise RuntimeError(f"fairseq-train wrote no {checkpoint}")
    return TinyModel(
        root=root,
        raw_dir=raw_dir,
        dict_path=dict_path,
        data_dir=data_dir,
        checkpoint=checkpoint,
        plugin_dir=PLUGIN_DIR,
    )


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> TinyModel:
    """A 1-layer, 32-dim transformer (joined dict, shared embeddings) trained 25 epochs (~1-2 bits/token on valid)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


# --- the tiny study through Snakemake ---------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
TINY = load_config(ROOT / "config" / "tiny.yaml")
FORGET_SETS = forget_set_names(TINY)
METHODS = TINY["unlearning"]["methods"]


def snakemake(results: Path, *args: str, extra_config: dict | None = None, cwd: Path = ROOT):
    """Snakemake on the tiny config with ``results_dir`` (and ``extra_config``) overlaid."""
    override = results.parent / f"override-{results.name}.yaml"
    override.write_text(yaml.safe_dump({"results_dir": str(results), **(extra_config or {})}))
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # 4 cores: up to 4 jobs at once write to the same sqlite tracking database.
    return subprocess.run(
        [SNAKEMAKE, "--cores", "4", "--configfile", "config/tiny.yaml", str(override), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def scheduled_jobs(dry_run_output: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of each job in a dry run's output."""
    jobs = []
    for block in re.split(r"\n(?=\[.*\]\n)", dry_run_output):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if rule:
            wildcards = re.search(r"wildcards: (.*)", block)
            jobs.append((rule.group(1), wildcards.group(1) if wildcards else ""))
    return jobs


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished tiny study (one for the whole session: the end-to-end tests read it, and
    those that rerun a stage leave it as Snakemake would)."""
    results = tmp_path_factory.mktemp("tiny") / "results"
    run = snakemake(results)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return results
