"""One UTF-8 file with ``source<TAB>target`` per line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from unlearn_study.data.sources import HOLD_OUT_SCHEMA, RandomHoldOut, register


def load_tsv(path: Path) -> pd.DataFrame:
    from unlearn_study.data.corpus import CorpusError, read_lines

    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise CorpusError(
                f"{path}, line {number}: expected 2 tab-separated columns (source, target), found {len(fields)}"
            )
        rows.append(fields)
    return pd.DataFrame({"doc": -1, "src": [r[0] for r in rows], "tgt": [r[1] for r in rows]})


@register
class TabSeparated(RandomHoldOut):
    name = "tsv"
    file_keys = ("file",)
    schema = {
        "file": {"type": ["string", "null"], "description": "source<TAB>target per line."},
        **HOLD_OUT_SCHEMA,
    }

    def load(self, cfg):
        return load_tsv(Path(cfg["file"]))
