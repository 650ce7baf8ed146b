"""Training the translation models (one per half and seed) with ``fairseq-train``."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from unlearn_study.backends.fairseq import run as fairseq_run
from unlearn_study.infra.io import atomic_path, read_json, write_json

log = logging.getLogger(__name__)


# fmt: off
def train_args(cfg: dict, data_dir: Path, save_dir: Path, seed: int, device: str) -> list:
    """fairseq-train arguments for the configured transformer (``cfg``: config ``model``).
    Training stops at ``max_update`` updates or after ``patience`` validations (one per
    epoch) without a lower validation loss, whichever comes first."""
    return [
        data_dir, "--save-dir", save_dir, "--seed", seed, *fairseq_run.device_flags(device),
        "--arch", cfg["arch"], "--share-all-embeddings",
        "--encoder-layers", cfg["layers"], "--decoder-layers", cfg["layers"],
        "--encoder-embed-dim", cfg["embed_dim"], "--decoder-embed-dim", cfg["embed_dim"],
        "--encoder-ffn-embed-dim", cfg["ffn_dim"], "--decoder-ffn-embed-dim", cfg["ffn_dim"],
        "--encoder-attention-heads", cfg["heads"], "--decoder-attention-heads", cfg["heads"],
        "--dropout", cfg["dropout"],
        "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", cfg["label_smoothing"],
        "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--clip-norm", cfg["clip_norm"],
        "--lr", cfg["lr"], "--lr-scheduler", "inverse_sqrt", "--warmup-updates", cfg["warmup_updates"],
        "--max-tokens", cfg["max_tokens"], "--max-update", cfg["max_update"], "--patience", cfg["patience"],
        # fairseq otherwise rounds batches to multiples of 8 and can skip a remainder.
        "--required-batch-size-multiple", 1,
        "--no-epoch-checkpoints", "--keep-last-epochs", 1,
        "--log-format", "json", "--log-interval", 20, "--num-workers", 0,
    ]
# fmt: on


def parse_epoch_log(log_path: Path) -> list[dict]:
    """Per-epoch records (``train_*`` and ``valid_*`` keys) from fairseq's JSON log."""
    epochs: dict[int, dict] = {}
    for line in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines():
        start = line.find('{"epoch"')
        if start < 0 or not line.rstrip().endswith("}"):
            continue
        record = json.loads(line[start:])
        if "train_loss" not in record and "valid_loss" not in record:
            continue  # a within-epoch progress line
        epoch = int(record.pop("epoch"))
        # A resumed epoch is logged again; the later record wins.
        epochs.setdefault(epoch, {"epoch": epoch}).update(
            {k: float(v) for k, v in record.items() if k.startswith(("train_", "valid_")) and _is_number(v)}
        )
    return [epochs[e] for e in sorted(epochs)]


def _is_number(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def stopping(fairseq_log_text: str, epochs: list[dict], max_update: int) -> str:
    """Why training ended: "patience" (validation loss stopped improving), "max_update"
    (the cap), or "unknown"."""
    if "early stop since valid performance hasn't improved" in fairseq_log_text:
        return "patience"
    if epochs and epochs[-1].get("train_num_updates", 0) >= max_update:
        return "max_update"
    return "unknown"


def train(
    cfg: dict,
    data_dir: Path,
    save_dir: Path,
    seed: int,
    checkpoint_out: Path,
    summary_out: Path,
    log_path: Path,
    device: str = "auto",
    threads: int = 1,
) -> dict:
    """Train (or resume) one model; write the checkpoint with the lowest validation loss
    and a summary (per-epoch log, why training stopped, the best epoch).

    ``cfg`` holds the hyper-parameters (config ``model``); ``device`` and ``threads`` are
    resources: they decide where and how fast it trains, not what.

    fairseq resumes from ``save_dir/checkpoint_last.pt`` by itself, so a killed job
    continues where it stopped (its patience count starts again). A stamp of the arguments
    guards against resuming a checkpoint that was trained with different settings.
    """
    args = train_args(cfg, data_dir, save_dir, seed, device)
    stamp = save_dir / "train_args.json"
    wanted = [str(a) for a in args]
    if save_dir.exists() and (not stamp.exists() or read_json(stamp) != wanted):
        log.info("settings changed since %s was written: starting from scratch", save_dir)
        shutil.rmtree(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    write_json(wanted, stamp)
    if (save_dir / "checkpoint_last.pt").exists():
        log.info("resuming from %s", save_dir / "checkpoint_last.pt")
    fairseq_log = save_dir / "fairseq_train.log"  # kept across resumes, unlike the job log
    fairseq_run.run("train", [*args, "--log-file", fairseq_log], log_path, threads=threads)
    epochs = parse_epoch_log(fairseq_log)
    validated = [e for e in epochs if "valid_loss" in e]
    best = min(validated, key=lambda e: e["valid_loss"]) if validated else {}
    summary = {
        "stopped_by": stopping(fairseq_log.read_text(errors="replace"), epochs, cfg["max_update"]),
        "epochs_trained": len(epochs),
        "updates": int(epochs[-1].get("train_num_updates", 0)) if epochs else 0,
        "best_epoch": best.get("epoch"),
        "best_valid_loss": best.get("valid_loss"),
        "epochs": epochs,
        "device": device,
        "dtype": "float32",  # fairseq-train without --fp16/--bf16
    }
    with atomic_path(checkpoint_out) as tmp:
        shutil.copyfile(save_dir / "checkpoint_best.pt", tmp)
    write_json(summary, summary_out)
    return summary


def parameter_count(cfg: dict, vocab_size: int) -> int:
    """Parameters of the model ``train_args`` configures (config ``model``) with a joined
    dictionary of ``vocab_size`` symbols, built on the CPU without training."""
    import argparse

    from fairseq.data import Dictionary
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    dictionary = Dictionary()
    for i in range(vocab_size - len(dictionary)):
        dictionary.add_symbol(f"piece{i}")
    args = argparse.Namespace(
        share_all_embeddings=True,
        encoder_layers=cfg["layers"],
        decoder_layers=cfg["layers"],
        encoder_embed_dim=cfg["embed_dim"],
        decoder_embed_dim=cfg["embed_dim"],
        encoder_ffn_embed_dim=cfg["ffn_dim"],
        decoder_ffn_embed_dim=cfg["ffn_dim"],
        encoder_attention_heads=cfg["heads"],
        decoder_attention_heads=cfg["heads"],
        dropout=cfg["dropout"],
        max_source_positions=1024,
        max_target_positions=1024,
    )
    ARCH_CONFIG_REGISTRY[cfg["arch"]](args)
    task = argparse.Namespace(source_dictionary=dictionary, target_dictionary=dictionary)
    model = ARCH_MODEL_REGISTRY[cfg["arch"]].build_model(args, task)
    return sum(p.numel() for p in model.parameters())
