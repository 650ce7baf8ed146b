"""Parallel corpus: loading (through the configured source, :mod:`.sources`), cleaning, splitting.

Every table has the columns ``doc`` (document number, e.g. the Bible book; -1 where a
corpus has no documents), ``src`` and ``tgt``; ``pair_id`` is added once the splits are final.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from unlearn_study.data import sources

log = logging.getLogger(__name__)


class CorpusError(ValueError):
    """The corpus cannot be used; the message names the file and line."""


def read_lines(path: Path) -> list[str]:
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


def load_corpus(cfg: dict) -> pd.DataFrame:
    """The pairs of the configured source (``cfg``: config ``corpus``)."""
    source, source_cfg = sources.of(cfg)
    return source.load(source_cfg)


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

    The source chooses the held-out pairs (the Bible: whole books; others: a seeded
    random hold-out). A pair
    is removed from a split when its source or its target already occurs in a split
    of higher priority (test > valid > train) or earlier in the same split, because
    parallel passages repeat verbatim and would otherwise leak.
    """
    source, source_cfg = sources.of(cfg)
    test, valid, train = source.held_out(df, source_cfg, cfg["seed"])
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
