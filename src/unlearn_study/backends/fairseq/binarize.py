"""Subword-encode the training set of each half's models and binarize it with fairseq.

A half's data: the retained train pairs (common to both halves) and each of the half's
candidates (ID pairs and canaries) repeated its number of times r. Both halves share the
dictionary taken from the SentencePiece vocabulary, valid and test.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unlearn_study.backends.fairseq import run as fairseq_run
from unlearn_study.data import subword
from unlearn_study.infra.io import atomic_dir, write_lines


def training_pairs(
    retained: pd.DataFrame, candidates: pd.DataFrame, canaries: pd.DataFrame, sp
) -> tuple[list[str], list[str]]:
    """Subword-encoded (source, target) training lines: the retained pairs, then each ID
    candidate and each canary repeated its number of times (``repetitions``)."""
    src = subword.encode(sp, list(retained["src"]))
    tgt = subword.encode(sp, list(retained["tgt"]))
    candidates = subword.with_pieces(candidates, sp)
    for rows in (candidates, canaries):
        for row in rows.itertuples():
            src += [row.src_pieces] * row.repetitions
            tgt += [row.tgt_pieces] * row.repetitions
    return src, tgt


def binarize(
    train: tuple[list[str], list[str]],
    valid: pd.DataFrame,
    test: pd.DataFrame,
    sp,
    dict_path: Path,
    out_dir: Path,
    log_path: Path,
) -> None:
    """Write raw subword text and fairseq binaries of train/valid/test into ``out_dir``."""
    with atomic_dir(out_dir) as tmp:
        raw = tmp / "raw"
        raw.mkdir()
        splits = {
            "train": train,
            "valid": (subword.encode(sp, list(valid["src"])), subword.encode(sp, list(valid["tgt"]))),
            "test": (subword.encode(sp, list(test["src"])), subword.encode(sp, list(test["tgt"]))),
        }
        for name, (src, tgt) in splits.items():
            write_lines(src, raw / f"{name}.src")
            write_lines(tgt, raw / f"{name}.tgt")
        preprocess({name: raw / name for name in splits}, dict_path, tmp, log_path)


SPLITS = ("train", "valid", "test")  # fairseq-preprocess's --<split>pref options
# The language suffixes of the raw and binarized files, as every fairseq CLI reading them names them.
LANGUAGE_FLAGS = ("--source-lang", "src", "--target-lang", "tgt")


def preprocess(splits: dict[str, str | Path], dict_path, dest_dir, log_path) -> None:
    """fairseq-preprocess: binarize into ``dest_dir`` each split (name -> prefix of its raw
    ``<prefix>.src``/``<prefix>.tgt`` subword lines; names from :data:`SPLITS`), with the
    joined dictionary ``dict_path``; fairseq's output is appended to ``log_path``."""
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"fairseq-preprocess has no split {sorted(unknown)}; known: {', '.join(SPLITS)}")
    fairseq_run.run(
        "preprocess",
        [
            *LANGUAGE_FLAGS,
            *[arg for name, prefix in splits.items() for arg in (f"--{name}pref", prefix)],
            "--destdir",
            dest_dir,
            "--srcdict",
            dict_path,
            "--joined-dictionary",
            "--workers",
            1,
        ],
        log_path,
    )
