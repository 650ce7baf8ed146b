"""Figures (matplotlib, PNG). Each function takes tables and writes one file.

Curves over unlearning steps show each kind's mean over units (forget sets x seeds) with
its 95% bootstrap band over units; thin lines are single units."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import stats  # noqa: E402
from .examples import DIFFICULTY_LABELS, MEMORISATION_LABELS  # noqa: E402
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
    fig, (ax, pop_ax) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    colours = plt.cm.Oranges(
        np.linspace(0.45, 0.95, max(1, table.loc[table["kind"] == "ood", "repetitions"].nunique()))
    )
    ood_i = 0
    for label, rows in _groups(table):
        colour = KIND_COLOURS["id"] if label.startswith("ID") else colours[ood_i]
        ood_i += not label.startswith("ID")
        ax.scatter(rows["diff"], rows["mem"], s=14, alpha=0.7, color=colour, label=f"{label} (n={len(rows)})")
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("difficulty: bits/token under the out-models (never saw it)")
    ax.set_ylabel("memorisation: bits_out - bits_in (bits)")
    ax.set_title("Memorisation against difficulty")
    ax.legend(fontsize=8)
    for kind, name in (("id", "id_population"), ("ood", "ood_population")):
        members = table[table["kind"] == name]
        if len(members):
            difference = members["bits_A"] - members["bits_B"]
            pop_ax.hist(
                difference,
                bins=40,
                alpha=0.55,
                color=KIND_COLOURS[kind],
                label=f"{name}: mean {difference.mean():+.2f} bits (n={len(members)})",
            )
    pop_ax.axvline(0, color="black", lw=0.8)
    pop_ax.set_xlabel("half-A models minus half-B models (bits per sequence)")
    pop_ax.set_ylabel("never-trained examples")
    pop_ax.set_title("Counterfactual check: populations no model saw")
    pop_ax.legend(fontsize=8)
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


def _mean_band(ax, runs: pd.DataFrame, x: str, y: str, colour, label: str, seed: int = 0) -> None:
    """Mean of ``y`` over units at each ``x``, with its 95% bootstrap band over units."""
    rng = np.random.default_rng(seed)
    xs, means, lows, highs = [], [], [], []
    for value, at in runs.groupby(x):
        values = at[y].dropna().to_numpy()
        if not len(values):
            continue
        low, high = stats.interval(stats.resampled_means(values, rng, 1000)) if len(values) > 1 else (np.nan,) * 2
        xs.append(value), means.append(values.mean()), lows.append(low), highs.append(high)
    n = runs.groupby(["forget_set", "seed"]).ngroups
    ax.plot(xs, means, color=colour, lw=2.5, label=f"{label} (mean of {n}, 95% band)")
    ax.fill_between(xs, lows, highs, color=colour, alpha=0.2, lw=0)


def _unit_lines(ax, runs: pd.DataFrame, x: str, y: str, colour) -> None:
    for _, run in runs.groupby(["forget_set", "seed"]):
        run = run.sort_values("step")
        ax.plot(run[x], run[y], color=colour, alpha=0.25, lw=0.8)


def _by_kind(ax, runs: pd.DataFrame, y: str, thin: bool = True) -> None:
    for kind, of_kind in runs.groupby("kind"):
        if thin:
            _unit_lines(ax, of_kind, "step", y, KIND_COLOURS[kind])
        _mean_band(ax, of_kind, "step", y, KIND_COLOURS[kind], kind.upper())


def metric_curves(steps: pd.DataFrame, path) -> None:
    fig, rows = _method_rows(steps, 3)
    for method, runs, axes in rows:
        for ax, column, label in (
            (axes[0], "exposure_rank_mean", "rank exposure (bits)"),
            (axes[1], "genex_mean", "generalised exposure (bits)"),
            (axes[2], "relex_mean", "relative exposure (bits)"),
        ):
            _by_kind(ax, runs, column)
            ax.axhline(0, color="grey", lw=0.8, ls="--")
            ax.set_xlabel("unlearning step")
            ax.set_ylabel(label)
            ax.set_title(method, fontsize=9, loc="left")
        axes[0].legend(fontsize=8)
    fig.suptitle("Exposure metrics of the forget sets during unlearning, by method")
    _save(fig, path)


def indistinguishable_share(steps: pd.DataFrame, alpha: float, unlearnt_share: float, path) -> None:
    fig, rows = _method_rows(steps, 1, width=7, height=4.3)
    for method, runs, (ax,) in rows:
        _by_kind(ax, runs, "indistinguishable_share")
        ax.axhline(1 - alpha, color="grey", lw=0.8, ls="--", label=f"never-trained data: {1 - alpha:.0%}")
        ax.axhline(unlearnt_share, color="black", lw=0.8, ls=":", label=f"counts as unlearnt: {unlearnt_share:.0%}")
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("unlearning step")
        ax.set_ylabel("share of the forget set indistinguishable")
        ax.set_title(f"Calibrated test: {method}")
        ax.legend(fontsize=8)
    _save(fig, path)


def bleu_by_step(steps: pd.DataFrame, path) -> None:
    fig, rows = _method_rows(steps, 2, width=6, height=4.2)
    for method, runs, axes in rows:
        _by_kind(axes[0], runs, "bleu")
        axes[0].set_ylabel("test BLEU")
        _by_kind(
            axes[1],
            runs.assign(
                retain_increase=runs["retain_bpt"]
                - runs.groupby(["forget_set", "seed"])["retain_bpt"].transform("first")
            ),
            "retain_increase",
        )
        axes[1].set_ylabel("retain sample: Δ bits/token since step 0")
        for ax in axes:
            ax.set_xlabel("unlearning step")
            ax.set_title(method, fontsize=9, loc="left")
        axes[0].legend(fontsize=8)
    fig.suptitle("Utility during unlearning")
    _save(fig, path)


def tradeoff(steps: pd.DataFrame, path) -> None:
    fig, rows = _method_rows(steps, 1, width=6.5, height=4.5)
    for method, runs, (ax,) in rows:
        for kind, of_kind in runs.groupby("kind"):
            _unit_lines(ax, of_kind, "genex_mean", "bleu", KIND_COLOURS[kind])
            mean = of_kind.groupby("step")[["genex_mean", "bleu"]].mean()
            ax.plot(
                mean["genex_mean"],
                mean["bleu"],
                color=KIND_COLOURS[kind],
                lw=2.5,
                marker="o",
                ms=3,
                label=f"{kind.upper()} (mean per step)",
            )
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
                mean = run.groupby("step")[["genex_mean", "bleu"]].mean()
                n = run.groupby(["forget_set", "seed"]).ngroups
                ax.plot(
                    mean["genex_mean"],
                    mean["bleu"],
                    marker="o",
                    ms=3,
                    color=plt.cm.viridis(i / 2.5),
                    label=f"{bucket} (mean of {n})",
                )
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
            of_kind = runs[runs["kind"] == kind]
            _mean_band(ax, of_kind, "step", "neighbour_trained_delta_bpt", KIND_COLOURS[kind], "trained neighbours")
            _mean_band(
                ax, of_kind, "step", "neighbour_unseen_delta_bpt", "tab:green", "never-trained neighbours (R_id)"
            )
            ax.axhline(0, color="black", lw=0.6)
            ax.set_title(f"{method}: {kind.upper()} forget sets")
            ax.set_xlabel("unlearning step")
            ax.set_ylabel("change of bits/token since step 0")
            ax.legend(fontsize=8)
    fig.suptitle("Neighbour effect: similar examples, trained on vs never trained on")
    _save(fig, path)


def steps_to_unlearn_by_bucket(groups: pd.DataFrame, units: pd.DataFrame, path) -> None:
    """Per bucket: calibrated steps to unlearn and the BLEU drop at that step; points are
    units (ringed: never unlearnt, read at the last step), squares the bucket mean with
    its 95% interval."""
    labels = {"difficulty": DIFFICULTY_LABELS, "memorisation": MEMORISATION_LABELS}
    buckets = groups[groups["bucket"] != "all"]
    position = [labels[g].index(b) if g in labels else int(b) for g, b in zip(buckets["grouping"], buckets["bucket"])]
    buckets = buckets.assign(_order=position)
    buckets = buckets.sort_values(["kind", "grouping", "_order"])
    fig, rows = _method_rows(buckets, 2, width=6.5, height=4.5)
    for method, of_method, axes in rows:
        for ax, quantity, ylabel in (
            (axes[0], "unlearn_step", "steps to unlearn (calibrated)"),
            (axes[1], "bleu_drop", "BLEU drop at the unlearning step"),
        ):
            for i, r in enumerate(of_method.itertuples()):
                members = units[
                    (units["method"] == method)
                    & (units["kind"] == r.kind)
                    & (units["grouping"] == r.grouping)
                    & (units["bucket"].astype(str) == str(r.bucket))
                ]
                colour = KIND_COLOURS[r.kind]
                ax.scatter(
                    np.full(len(members), i - 0.1),
                    members[quantity],
                    s=16,
                    color=colour,
                    alpha=0.7,
                    edgecolors="black",
                    linewidths=np.where(members["censored"], 1.2, 0.0),
                )
                mean, low, high = getattr(r, quantity), getattr(r, f"{quantity}_low"), getattr(r, f"{quantity}_high")
                error = [[mean - low], [high - mean]] if np.isfinite(low) else None
                ax.errorbar(i + 0.15, mean, yerr=error, fmt="s", color=colour, ms=5, capsize=3)
            ax.set_ylabel(ylabel)
            labels = of_method["kind"] + " " + of_method["grouping"].str[:3] + " " + of_method["bucket"].astype(str)
            ax.set_xticks(np.arange(len(of_method)), labels, rotation=60, ha="right", fontsize=8)
            ax.set_title(method, fontsize=9, loc="left")
    fig.suptitle("Steps to unlearn and utility cost by bucket (blue: ID, orange: OOD; ringed: never unlearnt)")
    _save(fig, path)


VERDICT_COLOURS = {
    "supported": "tab:green",
    "contradicted": "tab:red",
    "inconclusive": "tab:grey",
    "not assessed": "lightgrey",
}


def claims_forest(claims: pd.DataFrame, path) -> None:
    """One row per claim contrast: estimate and 95% interval, coloured by verdict, one panel
    per unit of measurement; the side of 0 that the paper claims is shaded."""
    claims = claims.assign(unit=claims["statistic"].map(_claim_unit))
    panels = [(unit, rows) for unit, rows in claims.groupby("unit", sort=False)]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(9, 0.42 * len(claims) + 1.2 * len(panels)),
        squeeze=False,
        gridspec_kw={"height_ratios": [len(rows) for _, rows in panels]},
    )
    for ax, (unit, rows) in zip(axes[:, 0], panels):
        finite = rows[["low", "high", "estimate"]].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        span = max(np.abs(finite).max(), 1e-3) * 1.15 if finite.size else 1.0
        for y, r in enumerate(rows.itertuples()):
            colour = VERDICT_COLOURS[r.verdict]
            side = (0, span) if r.claimed.startswith(">") else (-span, 0)
            ax.fill_betweenx([y - 0.4, y + 0.4], *side, color="tab:green", alpha=0.07, lw=0)
            if np.isfinite(r.low):
                ax.plot([r.low, r.high], [y, y], color=colour, lw=2.5)
            if np.isfinite(r.estimate):
                ax.plot(r.estimate, y, "o", color=colour, ms=6)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlim(-span, span)
        labels = [
            f"{r.claim} {r.method} {r.kind} ({r.rule}): {r.statistic.rsplit(', ', 1)[-1]}" for r in rows.itertuples()
        ]
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(unit, fontsize=8)
    handles = [plt.Line2D([], [], color=c, lw=2.5, label=v) for v, c in VERDICT_COLOURS.items()]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="tab:green", alpha=0.15, label="the claimed side of 0"))
    axes[0, 0].legend(handles=handles, fontsize=7, loc="upper right", bbox_to_anchor=(1, 1.6), ncol=5, frameon=False)
    fig.suptitle("The paper's claims against this study: estimates and 95% intervals")
    _save(fig, path)


def _claim_unit(statistic: str) -> str:
    if statistic.startswith("steps"):
        return "steps to unlearn"
    return "Δ bits/token at the unlearning step" if "bits/token" in statistic else "BLEU drop (points)"
