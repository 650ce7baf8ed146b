"""Figures (matplotlib, PNG). Each function takes tables and writes one file."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .io import atomic_path  # noqa: E402

KIND_COLOURS = {"id": "tab:blue", "ood": "tab:orange"}


def _groups(table: pd.DataFrame):
    """(label, rows) for ID candidates and for canaries at each repetition level."""
    yield "ID candidates", table[table["kind"] == "id"]
    ood = table[table["kind"] == "ood"]
    for reps in sorted(ood["repetitions"].unique()):
        yield f"canaries r={reps}", ood[ood["repetitions"] == reps]


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def memorisation_vs_difficulty(table: pd.DataFrame, path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colours = plt.cm.Oranges(np.linspace(0.45, 0.95, max(1, table.loc[table["kind"] == "ood", "repetitions"].nunique())))
    ood_i = 0
    for label, rows in _groups(table):
        colour = KIND_COLOURS["id"] if label.startswith("ID") else colours[ood_i]
        ood_i += not label.startswith("ID")
        ax.scatter(rows["diff"], rows["mem"], s=14, alpha=0.7, color=colour, label=f"{label} (n={len(rows)})")
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("difficulty: bits/token under the reference model")
    ax.set_ylabel("memorisation: bits_ref - bits_base (bits)")
    ax.set_title("Memorisation against difficulty")
    ax.legend(fontsize=8)
    _save(fig, path)


def exposure_by_repetition(table: pd.DataFrame, path) -> None:
    groups = list(_groups(table))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, column, title in ((axes[0], "exposure_rank", "rank exposure"),
                              (axes[1], "exposure_skewnorm", "skew-normal exposure (extrapolated)")):
        data = [rows[column].dropna().to_numpy() for _, rows in groups]
        ax.boxplot(data, showfliers=False)
        for i, values in enumerate(data, start=1):
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, size=len(values))
            ax.scatter(np.full(len(values), i) + jitter, values, s=8, alpha=0.6)
        ax.set_xticks(range(1, len(groups) + 1), [label for label, _ in groups], rotation=20)
        ax.set_ylabel(f"{title} (bits)")
        ax.set_title(f"{title.capitalize()} before unlearning")
    n_id = int((table["kind"] == "id_population").sum())
    n_ood = int((table["kind"] == "ood_population").sum())
    axes[0].axhline(np.log2(max(n_ood, 1) + 1), color="grey", lw=0.8, ls="--", label="maximum, log2(|R|+1)")
    axes[0].legend(fontsize=8, title=f"|R_id|={n_id}, |R_ood|={n_ood}", title_fontsize=8)
    _save(fig, path)
