"""Subword-encode the training set of each half's models and binarize it with fairseq.

A half's data: the retained train pairs (common to both halves), the half's ID
candidates, and each of the half's canaries repeated r times. Both halves share the
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
    """Subword-encoded (source, target) training lines: the retained pairs, the ID
    ``candidates`` and each of the ``canaries`` repeated its number of times."""
    src = subword.encode(sp, list(retained["src"]) + list(candidates["src"]))
    tgt = subword.encode(sp, list(retained["tgt"]) + list(candidates["tgt"]))
    for row in canaries.itertuples():
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
        fairseq_run.run(
            "preprocess",
            [
                "--source-lang",
                "src",
                "--target-lang",
                "tgt",
                "--trainpref",
                raw / "train",
                "--validpref",
                raw / "valid",
                "--testpref",
                raw / "test",
                "--destdir",
                tmp,
                "--srcdict",
                dict_path,
                "--joined-dictionary",
                "--workers",
                1,
            ],
            log_path,
        )
