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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def memorisation_vs_difficulty(table: pd.DataFrame, path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    colours = plt.cm.Oranges(
        np.linspace(0.45, 0.95, max(1, table.loc[table["kind"] == "ood", "repetitions"].nunique()))
    )
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
    for ax, column, title in (
        (axes[0], "exposure_rank", "rank exposure"),
        (axes[1], "exposure_skewnorm", "skew-normal exposure (extrapolated)"),
    ):
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


def _method_rows(steps: pd.DataFrame, columns: int, width: float = 4.6, height: float = 4.0, **kwargs):
    """A figure with one row of ``columns`` panels per unlearning method, and the rows."""
    methods = sorted(steps["method"].unique()) or ["(none)"]
    fig, axes = plt.subplots(
        len(methods), columns, figsize=(width * columns, height * len(methods)), squeeze=False, **kwargs
    )
    return fig, [(method, steps[steps["method"] == method], axes[i]) for i, method in enumerate(methods)]


def _kind_lines(ax, steps: pd.DataFrame, x: str, y: str) -> None:
    """One thin line per forget set, coloured by kind; the kind's mean in bold."""
    for (kind, _), run in steps.groupby(["kind", "forget_set"]):
        run = run.sort_values("step")
        ax.plot(run[x], run[y], color=KIND_COLOURS[kind], alpha=0.35, lw=0.9, marker=".", ms=3)
    for kind, runs in steps.groupby("kind"):
        mean = runs.groupby("step")[[x, y]].mean().sort_index()
        ax.plot(
            mean[x],
            mean[y],
            color=KIND_COLOURS[kind],
            lw=2.5,
            label=f"{kind.upper()} (mean of {runs['forget_set'].nunique()} sets)",
        )


def metric_curves(steps: pd.DataFrame, path) -> None:
    fig, rows = _method_rows(steps, 3)
    for method, runs, axes in rows:
        for ax, column, label in (
            (axes[0], "exposure_rank_mean", "rank exposure (bits)"),
            (axes[1], "genex_mean", "generalised exposure (bits)"),
            (axes[2], "relex_mean", "relative exposure (bits)"),
        ):
            _kind_lines(ax, runs, "step", column)
            ax.axhline(0, color="grey", lw=0.8, ls="--")
            ax.set_xlabel("unlearning step")
            ax.set_ylabel(label)
            ax.set_title(method, fontsize=9, loc="left")
        axes[0].legend(fontsize=8)
    fig.suptitle("Exposure metrics of the forget sets during unlearning, by method")
    _save(fig, path)


def tradeoff(steps: pd.DataFrame, path) -> None:
    fig, rows = _method_rows(steps, 1, width=6.5, height=4.5)
    for method, runs, (ax,) in rows:
        _kind_lines(ax, runs, "genex_mean", "bleu")
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.invert_xaxis()
        ax.set_xlabel("mean GenEx of the forget set (bits; unlearning moves right →)")
        ax.set_ylabel("test BLEU")
        ax.set_title(f"Utility against unlearning quality: {method}")
        ax.legend(fontsize=8)
    _save(fig, path)


def tradeoff_by_bucket(steps: pd.DataFrame, grouping: str, path) -> None:
    subset = steps[steps["grouping"] == grouping]
    kinds = sorted(subset["kind"].unique()) or ["id"]
    fig, rows = _method_rows(subset if len(subset) else steps, len(kinds), width=6, height=4.3)
    for method, runs, axes in rows:
        for ax, kind in zip(axes, kinds):
            for i, (bucket, run) in enumerate(runs[runs["kind"] == kind].groupby("bucket", sort=False)):
                run = run.sort_values("step")
                ax.plot(run["genex_mean"], run["bleu"], marker="o", ms=3, color=plt.cm.viridis(i / 2.5), label=bucket)
            ax.axvline(0, color="grey", lw=0.8, ls="--")
            ax.invert_xaxis()
            ax.set_title(f"{method}: {kind.upper()} forget sets by {grouping}")
            ax.set_xlabel("mean GenEx (bits)")
            ax.set_ylabel("test BLEU")
            ax.legend(fontsize=8, title=grouping)
    _save(fig, path)


def neighbour_effect(steps: pd.DataFrame, path) -> None:
    kinds = sorted(steps["kind"].unique())
    fig, rows = _method_rows(steps, len(kinds), width=6, height=4.2, sharey=True)
    for method, runs, axes in rows:
        for ax, kind in zip(axes, kinds):
            mean = (
                runs[runs["kind"] == kind]
                .groupby("step")[
                    ["neighbour_trained_delta_bpt", "neighbour_unseen_delta_bpt", "retain_bpt", "test_bpt"]
                ]
                .mean()
            )
            ax.plot(
                mean.index,
                mean["neighbour_trained_delta_bpt"],
                lw=2,
                color=KIND_COLOURS[kind],
                label="trained neighbours",
            )
            ax.plot(
                mean.index,
                mean["neighbour_unseen_delta_bpt"],
                lw=2,
                ls="--",
                color=KIND_COLOURS[kind],
                label="unseen neighbours (R_id)",
            )
            ax.plot(
                mean.index, mean["retain_bpt"] - mean["retain_bpt"].iloc[0], lw=1, color="grey", label="retain sample"
            )
            ax.axhline(0, color="black", lw=0.6)
            ax.set_title(f"{method}: {kind.upper()} forget sets")
            ax.set_xlabel("unlearning step")
            ax.set_ylabel("change of bits/token since step 0")
            ax.legend(fontsize=8)
    fig.suptitle("Neighbour effect: similar examples, trained on vs never trained on")
    _save(fig, path)


def steps_to_unlearn_by_bucket(table: pd.DataFrame, path) -> None:
    table = table.assign(label=table["kind"] + " " + table["grouping"].str[:3] + " " + table["bucket"].astype(str))
    table = table.sort_values(["kind", "grouping", "bucket"])
    fig, rows = _method_rows(table, 2, width=6.5, height=4.5)
    last = table["last_step"].max()
    for method, sets, axes in rows:
        x = np.arange(len(sets))
        colours = [KIND_COLOURS[k] for k in sets["kind"]]
        never = sets["steps_to_unlearn"].isna()
        axes[0].bar(
            x,
            sets["steps_to_unlearn"].fillna(last),
            color=colours,
            alpha=0.85,
            hatch=["//" if n else "" for n in never],
            edgecolor="black",
            lw=0.3,
        )
        axes[0].set_ylabel(f"steps to unlearn (hatched: not reached by step {last})")
        axes[1].bar(x, sets["bleu_drop_final"], color=colours, alpha=0.85)
        axes[1].set_ylabel("BLEU drop at the last step")
        for ax in axes:
            ax.set_xticks(x, sets["label"], rotation=60, ha="right", fontsize=8)
            ax.set_title(method, fontsize=9, loc="left")
    fig.suptitle("Steps to unlearn and utility cost by forget set (blue: ID, orange: OOD)")
    _save(fig, path)
