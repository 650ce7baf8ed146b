"""Two aligned plain-text files, one segment per line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unlearn_study.data.sources import HOLD_OUT_SCHEMA, RandomHoldOut, register


def load_parallel_files(src_path: Path, tgt_path: Path) -> pd.DataFrame:
    from unlearn_study.data.corpus import CorpusError, read_lines

    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise CorpusError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: "
            f"parallel files need one segment per line, aligned (first extra line: {min(len(src), len(tgt)) + 1})"
        )
    return pd.DataFrame({"doc": -1, "src": src, "tgt": tgt})


@register
class ParallelFiles(RandomHoldOut):
    name = "files"
    file_keys = ("src_file", "tgt_file")
    schema = {
        "src_file": {"type": ["string", "null"], "description": "Source side, one segment per line."},
        "tgt_file": {"type": ["string", "null"], "description": "Target side, aligned with src_file."},
        **HOLD_OUT_SCHEMA,
    }

    def load(self, cfg):
        return load_parallel_files(Path(cfg["src_file"]), Path(cfg["tgt_file"]))
