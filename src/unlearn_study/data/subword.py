"""SentencePiece model (joint, train only) and the fairseq dictionary taken from it."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import sentencepiece as spm

from unlearn_study.infra.io import write_lines

log = logging.getLogger(__name__)

# fairseq's Dictionary reserves these four symbols itself; SentencePiece is trained
# with the same ones so that piece ids line up and none of them is ever a canary piece.
SPECIALS = {"<s>", "<pad>", "</s>", "<unk>"}


def train_sentencepiece(
    texts: list[str],
    model_prefix: Path,
    vocab_size: int,
    model_type: str,
    character_coverage: float,
    seed_text_path: Path,
    required_chars: str = "",
) -> None:
    """Train a joint SentencePiece model on ``texts`` (deterministic: one thread, no
    sampling); every character of ``required_chars`` is in its vocabulary."""
    seed_text_path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(seed_text_path),
        model_prefix=str(model_prefix),
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        required_chars=required_chars,
        bos_id=0,
        pad_id=1,
        eos_id=2,
        unk_id=3,
        num_threads=1,
        input_sentence_size=0,
        shuffle_input_sentence=False,
        minloglevel=2,
    )


def train(
    texts: list[str],
    model_out: Path,
    dictionary_out: Path,
    vocab_size: int,
    model_type: str,
    character_coverage: float,
    required_chars: str = "",
) -> spm.SentencePieceProcessor:
    """Train the joint model on ``texts``; write it and the fairseq dictionary taken from it.
    ``required_chars``: characters the vocabulary must hold even if ``texts`` lack them
    (the canaries' alphabet and prompt)."""
    model_out = Path(model_out)
    model_out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_out.parent) as tmp:
        prefix = Path(tmp) / "spm"
        train_sentencepiece(
            texts, prefix, vocab_size, model_type, character_coverage, Path(tmp) / "input.txt", required_chars
        )
        sp = load(prefix.with_suffix(".model"))
        write_lines(fairseq_dictionary_lines(sp), dictionary_out)
        prefix.with_suffix(".model").replace(model_out)
    return sp


def load(model_path: Path) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(model_path))


def vocabulary_pieces(sp: spm.SentencePieceProcessor) -> list[str]:
    """All pieces except the special symbols, in id order."""
    return [
        sp.id_to_piece(i)
        for i in range(sp.get_piece_size())
        if sp.id_to_piece(i) not in SPECIALS and not sp.is_control(i) and not sp.is_unknown(i)
    ]


def fairseq_dictionary_lines(sp: spm.SentencePieceProcessor) -> list[str]:
    """fairseq ``dict.txt`` lines ("piece count") for every non-special piece.

    Taking the dictionary from the vocabulary (not from counts in the binarized data)
    makes every model's inputs encoded identically, whatever the canary settings.
    """
    return [f"{piece} 1" for piece in vocabulary_pieces(sp)]


def encode(sp: spm.SentencePieceProcessor, texts: list[str]) -> list[str]:
    return [" ".join(p) for p in sp.encode(list(texts), out_type=str)]


def with_pieces(df, sp):
    """``df`` (a DataFrame with ``src``/``tgt`` text) plus its pieces in ``src_pieces``/``tgt_pieces``."""
    return df.assign(src_pieces=encode(sp, df["src"]), tgt_pieces=encode(sp, df["tgt"]))


def decode(sp: spm.SentencePieceProcessor, pieces: str) -> str:
    return sp.decode(pieces.split())


def check_round_trip(sp: spm.SentencePieceProcessor, texts: list[str], what: str) -> None:
    """Every text must encode into pieces of the vocabulary (no unknown piece, which
    fairseq would read as <unk>) and decode back to itself exactly; raise ValueError
    naming the first text that does not, before any model trains on it."""
    unknown = sp.unk_id()
    for text in texts:
        ids = sp.encode(text)
        if unknown in ids:
            pieces = [p for p, i in zip(sp.encode(text, out_type=str), ids) if i == unknown]
            characters = sorted(set("".join(pieces)) - {"\u2581"})
            raise ValueError(
                f"{what} {text!r}: the subword model has no piece for the characters {characters} (they would be "
                "<unk>); add them to the vocabulary (train_subword's required characters) or change canaries.alphabet"
            )
        if sp.decode(ids) != text:
            raise ValueError(f"{what} {text!r} decodes back as {sp.decode(ids)!r}: it would not be scored exactly")
