import os

import pytest

from unlearn_study.data import corpus
from unlearn_study.data.sources.bible import load_bible
from unlearn_study.data.sources.files import load_parallel_files
from unlearn_study.data.sources.tsv import load_tsv
from unlearn_study.infra.config import ConfigError, load_config

BIBLE = dict(
    source="bible",
    bible=dict(src="4", tgt="e", valid_books=[31, 56, 65], test_books=[8, 32, 57]),
    min_words=1,
    max_words=50,
    max_train_pairs=None,
    seed=1,
)


@pytest.fixture(scope="module")
def bible_splits():
    return corpus.prepare(BIBLE)


def test_bible_is_aligned_web_to_elberfelder():
    df = load_bible("4", "e")
    assert len(df) == 31102
    first = df.iloc[0]
    assert first.src.startswith("In the beginning God created")
    assert first.tgt.startswith("Im Anfang schuf Gott")


def test_no_exact_duplicate_crosses_splits(bible_splits):
    splits, counts = bible_splits
    for side in ("src", "tgt"):
        seen = {name: set(df[side]) for name, df in splits.items()}
        assert not seen["train"] & seen["valid"]
        assert not seen["train"] & seen["test"]
        assert not seen["valid"] & seen["test"]
    assert counts["train_dropped_duplicates"] > 0  # repeated passages exist and were removed
    assert set(splits["test"]["doc"]) <= {8, 32, 57}
    assert not set(splits["train"]["doc"]) & {8, 32, 57, 31, 56, 65}


def test_cap_is_seeded(bible_splits):
    capped = dict(BIBLE, max_train_pairs=500)
    a, _ = corpus.prepare(capped)
    b, _ = corpus.prepare(capped)
    assert len(a["train"]) == 500
    assert a["train"]["src"].tolist() == b["train"]["src"].tolist()


def test_parallel_files_with_different_line_counts(tmp_path):
    (tmp_path / "a.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    with pytest.raises(corpus.CorpusError, match=r"a\.en has 3 lines but .*a\.de has 2"):
        load_parallel_files(tmp_path / "a.en", tmp_path / "a.de")


def test_invalid_utf8_names_file_and_line(tmp_path):
    (tmp_path / "bad.en").write_bytes(b"fine\nalso fine\nbroken \xff here\n")
    with pytest.raises(corpus.CorpusError, match=r"bad\.en, line 3: invalid UTF-8"):
        load_parallel_files(tmp_path / "bad.en", tmp_path / "bad.en")


def test_tsv_with_wrong_column_count(tmp_path):
    (tmp_path / "c.tsv").write_text("a\tb\nc\td\te\n")
    with pytest.raises(corpus.CorpusError, match=r"c\.tsv, line 2: expected 2 tab-separated columns .* found 3"):
        load_tsv(tmp_path / "c.tsv")


def test_empty_and_long_pairs_are_dropped_and_counted(tmp_path):
    (tmp_path / "c.tsv").write_text("a b\tx y\n \tz\nw\t\n" + "long " * 9 + "\tq\n")
    df, counts = corpus.clean(load_tsv(tmp_path / "c.tsv"), min_words=1, max_words=5)
    assert counts == {"pairs_read": 4, "dropped_empty": 2, "dropped_length": 1}
    assert df["src"].tolist() == ["a b"]


def test_random_split_of_document_free_corpus(tmp_path):
    lines = [f"sentence {i}" for i in range(50)]
    (tmp_path / "x.src").write_text("\n".join(lines) + "\n")
    (tmp_path / "x.tgt").write_text("\n".join(s.upper() for s in lines) + "\n")
    files = dict(src_file=str(tmp_path / "x.src"), tgt_file=str(tmp_path / "x.tgt"), valid_size=5, test_size=5)
    cfg = dict(BIBLE, source="files", files=files)
    splits, counts = corpus.prepare(cfg)
    assert (len(splits["train"]), len(splits["valid"]), len(splits["test"])) == (40, 5, 5)
    with pytest.raises(corpus.CorpusError, match="fewer than corpus.files.test_size"):
        corpus.prepare(dict(cfg, files=dict(files, valid_size=30, test_size=30)))


@pytest.mark.parametrize(
    "corpus_overlay, key",
    [
        ({"source": "tsv", "tsv": {"file": "/no/such/file.tsv"}}, "corpus.tsv.file"),
        ({"source": "tsv"}, "corpus.tsv.file"),  # null in config.yaml
        ({"source": "files", "files": {"src_file": "README.md", "tgt_file": "/no/such/tgt"}}, "corpus.files.tgt_file"),
        ({"source": "files", "files": {"src_file": "/no/such/src", "tgt_file": "README.md"}}, "corpus.files.src_file"),
        ({"source": "tsv", "tsv": {"file": "src"}}, "corpus.tsv.file"),  # a directory
    ],
)
def test_a_missing_corpus_file_is_a_config_error_naming_its_key(corpus_overlay, key):
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        load_config({"corpus": corpus_overlay})


def test_an_unreadable_corpus_file_is_a_config_error(tmp_path):
    path = tmp_path / "secret.tsv"
    path.write_text("a\tb\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read any file (root)")
        with pytest.raises(ConfigError, match="config key 'corpus.tsv.file': .* not readable"):
            load_config({"corpus": {"source": "tsv", "tsv": {"file": str(path)}}})
    finally:
        path.chmod(0o644)


def test_a_new_source_is_one_module(tmp_path, monkeypatch):
    """A source registered by a module of its own is in the schema and is read by prepare()."""
    from unlearn_study.data import sources

    @sources.register
    class Lines(sources.RandomHoldOut):
        name = "test_lines"
        schema = {"words": {"type": "integer", "minimum": 1}, **sources.HOLD_OUT_SCHEMA}

        def load(self, cfg):
            import pandas as pd

            return pd.DataFrame({"doc": -1, "src": [f"w{i}" for i in range(30)], "tgt": [f"v{i}" for i in range(30)]})

    try:
        block = {"words": 3, "valid_size": 2, "test_size": 2}
        config = load_config({"corpus": {"source": "test_lines", "test_lines": block}})
        splits, _ = corpus.prepare(config["corpus"])
        assert len(splits["test"]) == 2
        with pytest.raises(ConfigError, match="config key 'corpus.test_lines.words'"):
            load_config({"corpus": {"source": "test_lines", "test_lines": dict(block, words=0)}})
    finally:
        del sources.REGISTRY["test_lines"]
