"""Corpus sources: one module each in this package, found automatically.

A source is a subclass of :class:`Source` registered with :func:`register`. It has a
config sub-block ``corpus.<name>`` whose JSON schema is ``schema`` (added to the config
schema when it is loaded); ``files`` lists the files it reads (the rule's inputs, so
editing one reruns the study); ``check`` tests them before any job runs (a missing or
unreadable file is a config error naming its key); ``load`` reads the pairs; and
``held_out`` chooses the validation and test pairs. Cleaning, de-duplication across the
splits and the training cap are the same for every source (:mod:`..corpus`). A new
source is one module here (see ``tsv.py``) plus its sub-block in your config.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

REGISTRY: dict[str, Source] = {}


class SourceError(ValueError):
    """A source's settings or files cannot be used; ``key`` is the config key at fault."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


class Source:
    """Base class. Every table it returns has the columns ``doc`` (document number, -1
    where a corpus has none), ``src`` and ``tgt``."""

    name: ClassVar[str]
    schema: ClassVar[dict]  # JSON schema of the properties of corpus.<name> (all required)
    file_keys: ClassVar[tuple[str, ...]] = ()  # keys of corpus.<name> that name input files

    def files(self, cfg: dict) -> list[str]:
        """The files it reads (``cfg``: its sub-block)."""
        return [cfg[key] for key in self.file_keys if cfg.get(key)]

    def check(self, cfg: dict) -> None:
        """Raise SourceError when a file is missing, not a file or unreadable."""
        for key in self.file_keys:
            value = cfg.get(key)
            if not value:
                raise SourceError(key, f"required for corpus.source '{self.name}'")
            path = Path(value)
            if not path.is_file():
                raise SourceError(key, f"{path} does not exist or is not a file")
            if not os.access(path, os.R_OK):
                raise SourceError(key, f"{path} is not readable")

    def load(self, cfg: dict) -> pd.DataFrame:
        raise NotImplementedError

    def held_out(self, df: pd.DataFrame, cfg: dict, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(test, valid, train) rows of the cleaned corpus ``df``."""
        raise NotImplementedError


class RandomHoldOut(Source):
    """Seeded random hold-outs of ``valid_size`` and ``test_size`` pairs (corpora without documents)."""

    def held_out(self, df, cfg, seed):
        from unlearn_study.data.corpus import CorpusError

        order = np.random.default_rng(seed).permutation(len(df))
        n_test, n_valid = cfg["test_size"], cfg["valid_size"]
        if n_test + n_valid >= len(df):
            raise CorpusError(
                f"corpus has {len(df)} pairs after filtering, fewer than "
                f"corpus.{self.name}.test_size + corpus.{self.name}.valid_size + 1"
            )
        return (
            df.iloc[np.sort(order[:n_test])],
            df.iloc[np.sort(order[n_test : n_test + n_valid])],
            df.iloc[np.sort(order[n_test + n_valid :])],
        )


HOLD_OUT_SCHEMA = {
    "valid_size": {"type": "integer", "minimum": 1, "description": "Pairs held out at random for validation."},
    "test_size": {"type": "integer", "minimum": 1, "description": "Pairs held out at random for the test set."},
}


def register(cls: type[Source]) -> type[Source]:
    if cls.name in REGISTRY:
        raise ValueError(f"two corpus sources are named {cls.name!r}")
    REGISTRY[cls.name] = cls()
    return cls


def module_of(name: str) -> str:
    """The module that defines source ``name`` (for the code hash of the corpus rule)."""
    return type(REGISTRY[name]).__module__


def of(corpus: dict) -> tuple[Source, dict]:
    """The configured source and its sub-block (``corpus``: config ``corpus``)."""
    return REGISTRY[corpus["source"]], corpus[corpus["source"]]


for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    importlib.import_module(f"{__name__}.{_info.name}")
