"""Figures (matplotlib, PNG). Each function takes tables and writes one file.

Curves over unlearning steps show each kind's mean over units (forget sets x seeds) with
its interval over units (:mod:`unlearn_study.analysis.intervals`, at ``LEVEL``, which the
summary sets from ``claims.level``); thin lines are single units."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from unlearn_study import metrics  # noqa: E402
from unlearn_study.analysis import intervals  # noqa: E402
from unlearn_study.analysis.units import QUANTITIES  # noqa: E402
from unlearn_study.infra.io import atomic_path  # noqa: E402
from unlearn_study.study import kinds  # noqa: E402


def _colour(kind: str):
    return kinds.of(kind).colour


def _label(kind: str) -> str:
    return kinds.of(kind).label


def _groups(table: pd.DataFrame):
    """(kind, label, rows) for each kind's candidates, by repetition level where it has several."""
    for kind in kinds.KINDS.values():
        of_kind = table[table["kind"] == kind.name]
        levels = sorted(of_kind["repetitions"].unique())
        if len(levels) <= 1:
            yield kind, f"{kind.label} {kind.description}", of_kind
            continue
        for reps in levels:
            yield kind, f"{kind.label} r={reps}", of_kind[of_kind["repetitions"] == reps]


def _save(fig, path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def memorisation_vs_difficulty(table: pd.DataFrame, path) -> None:
    fig, (ax, pop_ax) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    shade = {}
    for kind, label, rows in _groups(table):
        shade[kind.name] = shade.get(kind.name, 0) + 1
        ax.scatter(
            rows["diff"],
            rows["mem"],
            s=14,
            alpha=0.45 + 0.15 * shade[kind.name] if shade[kind.name] < 4 else 0.9,
            color=kind.colour,
            marker="os^Dv"[(shade[kind.name] - 1) % 5],
            label=f"{label} (n={len(rows)})",
        )
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("difficulty: bits/token under the out-models (never saw it)")
    ax.set_ylabel("memorisation: bits_out - bits_in (bits)")
    ax.set_title("Memorisation against difficulty")
    ax.legend(fontsize=8)
    for kind in kinds.KINDS.values():
        members = kinds.population(table, kind.name)
        if len(members):
            difference = members["bits_A"] - members["bits_B"]
            pop_ax.hist(
                difference,
                bins=40,
                alpha=0.55,
                color=kind.colour,
                label=f"{kind.population}: mean {difference.mean():+.2f} bits (n={len(members)})",
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
        data = [rows[column].dropna().to_numpy() for _, _, rows in groups]
        ax.boxplot(data, showfliers=False)
        for i, values in enumerate(data, start=1):
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, size=len(values))
            ax.scatter(np.full(len(values), i) + jitter, values, s=8, alpha=0.6)
        ax.set_xticks(range(1, len(groups) + 1), [label for _, label, _ in groups], rotation=20)
        ax.set_ylabel(f"{title} (bits)")
        ax.set_title(f"{title.capitalize()} before unlearning")
    sizes = {kind.name: len(kinds.population(table, kind.name)) for kind in kinds.KINDS.values()}
    for kind in kinds.KINDS.values():
        axes[0].axhline(
            np.log2(sizes[kind.name] + 1),
            color=kind.colour,
            lw=0.8,
            ls="--",
            label=f"maximum for {kind.label}, log2(|R|+1)",
        )
    axes[0].legend(fontsize=8, title=", ".join(f"|R_{k}|={n}" for k, n in sizes.items()), title_fontsize=8)
    _save(fig, path)


def _run_labels(frame: pd.DataFrame) -> pd.Series:
    """How each row was unlearnt, as figures name it: the method, and the batch size when
    the study has several."""
    if frame.empty or frame["batch"].nunique() <= 1:
        return frame["method"].astype(str)
    return frame["method"].astype(str) + ", batch " + frame["batch"].astype(str)


def _method_rows(steps: pd.DataFrame, columns: int, width: float = 4.6, height: float = 4.0, **kwargs):
    """A figure with one row of ``columns`` panels per unlearning method (and batch size),
    and the rows: (label, its rows of ``steps``, its axes)."""
    labels = _run_labels(steps)
    runs = sorted(labels.unique()) or ["(none)"]
    fig, axes = plt.subplots(len(runs), columns, figsize=(width * columns, height * len(runs)), squeeze=False, **kwargs)
    return fig, [(run, steps[labels == run], axes[i]) for i, run in enumerate(runs)]


LEVEL = 0.95  # the bands' level (the summary sets claims.level)
SHARE = (0.0, 1.0)


def _bounds(column: str) -> intervals.Bounds:
    metric = metrics.by_column(column)
    return metric.bounds if metric is not None else SHARE if column.endswith("share") else intervals.UNBOUNDED


def _mean_band(ax, runs: pd.DataFrame, x: str, y: str, colour, label: str, linestyle="-") -> None:
    """Mean of ``y`` over units at each ``x``, with its interval over units."""
    xs, means, lows, highs = [], [], [], []
    for value, at in runs.groupby(x):
        values = at[y].dropna().to_numpy()
        if not len(values):
            continue
        band = intervals.mean(values, LEVEL, _bounds(y))
        xs.append(value), means.append(band.estimate), lows.append(band.low), highs.append(band.high)
    n = runs.groupby(["forget_set", "seed"]).ngroups
    ax.plot(xs, means, color=colour, lw=2.5, ls=linestyle, label=f"{label} (mean of {n}, {LEVEL:.0%} band)")
    ax.fill_between(xs, lows, highs, color=colour, alpha=0.2, lw=0)


def _unit_lines(ax, runs: pd.DataFrame, x: str, y: str, colour) -> None:
    for _, run in runs.groupby(["forget_set", "seed"]):
        run = run.sort_values("step")
        ax.plot(run[x], run[y], color=colour, alpha=0.25, lw=0.8)


def _by_kind(ax, runs: pd.DataFrame, y: str, thin: bool = True) -> None:
    for kind, of_kind in runs.groupby("kind"):
        if thin:
            _unit_lines(ax, of_kind, "step", y, _colour(kind))
        _mean_band(ax, of_kind, "step", y, _colour(kind), _label(kind))


LINESTYLES = ("-", "--", ":", "-.")


def metric_curves(steps: pd.DataFrame, path, columns: int = 4) -> None:
    """One panel per registered metric (unlearn_study.metrics): its forget-set mean (or
    per-model value) over the unlearning steps, per kind (colour) and method (line style),
    with its interval over units."""
    registered = list(metrics.REGISTRY.values())
    rows = -(-len(registered) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.6 * rows), squeeze=False)
    labels = _run_labels(steps)
    runs = sorted(labels.unique())
    for ax, metric in zip(axes.flat, registered):
        for style, run in zip(LINESTYLES * len(runs), runs):
            for kind, of_kind in steps[labels == run].groupby("kind"):
                label = f"{_label(kind)}, {run}" if len(runs) > 1 else _label(kind)
                _mean_band(ax, of_kind, "step", metric.column, _colour(kind), label, linestyle=style)
        if metric.bounds[0] is None or metric.bounds[0] < 0:
            ax.axhline(0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("unlearning step")
        ax.set_ylabel(metric.unit)
        ax.set_title(f"{metric.label} ({'forget-set mean' if metric.per == 'example' else 'per model'})", fontsize=9)
    for ax in axes.flat[len(registered) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Every metric during unlearning: mean over forget sets and seeds, {LEVEL:.0%} band")
    _save(fig, path)


TESTS = {"strict": "strict test", "specific": "specific test"}


def indistinguishable_share(shares: pd.DataFrame, alpha: float, unlearnt_share: float, path) -> None:
    """Per test, the share of the forget set indistinguishable from never trained at every
    step (``shares``: units.step_shares)."""
    fig, rows = _method_rows(shares, 2, width=6.5, height=4.3)
    for method, runs, axes in rows:
        for ax, (test, name) in zip(axes, TESTS.items()):
            _by_kind(ax, runs, f"{test}_share", thin=False)
            ax.axhline(1 - alpha, color="grey", lw=0.8, ls="--", label=f"never-trained data: {1 - alpha:.0%}")
            ax.axhline(unlearnt_share, color="black", lw=0.8, ls=":", label=f"counts as unlearnt: {unlearnt_share:.0%}")
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel("unlearning step")
            ax.set_ylabel("share of the forget set indistinguishable")
            ax.set_title(f"{name.capitalize()}: {method}", fontsize=10)
        axes[0].legend(fontsize=8)
    _save(fig, path)


def tests_by_step(steps: pd.DataFrame, alpha: float, path) -> None:
    """Forgetting or damage? At each full evaluation, per kind: the forget set's share
    indistinguishable by each test beside the never-trained population's share inside the
    same test's band (strict: the fixed band, which damage empties; specific: the step's
    band, the held-out members, near 1 - alpha by design)."""
    kind_names = sorted(steps["kind"].unique())
    fig, rows = _method_rows(steps, len(kind_names), width=6.5, height=4.5, sharey=True)
    for method, runs, axes in rows:
        runs = runs.assign(population_specific_share=1 - runs["specific_fpr"])
        for ax, kind in zip(axes, kind_names):
            of_kind = runs[runs["kind"] == kind]
            for test, colour in (("strict", "tab:purple"), ("specific", "tab:green")):
                _mean_band(ax, of_kind, "step", f"{test}_share", colour, f"forget set, {TESTS[test]}")
                population = "population_strict_share" if test == "strict" else "population_specific_share"
                _mean_band(ax, of_kind, "step", population, colour, f"never trained, {TESTS[test]}", linestyle="--")
            ax.axhline(1 - alpha, color="grey", lw=0.8, ls=":")
            ax.set_ylim(-0.03, 1.03)
            ax.set_xlabel("unlearning step")
            ax.set_ylabel("share inside the test's band")
            ax.set_title(f"{method}: {_label(kind)} forget sets", fontsize=10)
            ax.legend(fontsize=7)
    fig.suptitle("Forgetting or damage: the forget set against never-trained examples under the same model")
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
            _unit_lines(ax, of_kind, "genex_mean", "bleu", _colour(kind))
            mean = of_kind.groupby("step")[["genex_mean", "bleu"]].mean()
            ax.plot(
                mean["genex_mean"],
                mean["bleu"],
                color=_colour(kind),
                lw=2.5,
                marker="o",
                ms=3,
                label=f"{_label(kind)} (mean per step)",
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
    kind_names = sorted(subset["kind"].unique()) or list(kinds.KINDS)[:1]
    fig, rows = _method_rows(subset if len(subset) else steps, len(kind_names), width=6, height=4.3)
    for method, runs, axes in rows:
        for ax, kind in zip(axes, kind_names):
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
            ax.set_title(f"{method}: {_label(kind)} forget sets by {grouping}")
            ax.set_xlabel("mean GenEx (bits)")
            ax.set_ylabel("test BLEU")
            ax.legend(fontsize=8, title=grouping)
    _save(fig, path)


def neighbour_effect(steps: pd.DataFrame, path) -> None:
    kind_names = sorted(steps["kind"].unique())
    fig, rows = _method_rows(steps, len(kind_names), width=6, height=4.2, sharey=True)
    for method, runs, axes in rows:
        for ax, kind in zip(axes, kind_names):
            of_kind = runs[runs["kind"] == kind]
            _mean_band(ax, of_kind, "step", "neighbour_trained_delta_bpt", _colour(kind), "trained neighbours")
            _mean_band(
                ax,
                of_kind,
                "step",
                "neighbour_unseen_delta_bpt",
                "tab:green",
                f"never-trained neighbours ({kinds.of(kinds.of(kind).unseen_neighbours_from).population})",
            )
            ax.axhline(0, color="black", lw=0.6)
            ax.set_title(f"{method}: {_label(kind)} forget sets")
            ax.set_xlabel("unlearning step")
            ax.set_ylabel("change of bits/token since step 0")
            ax.legend(fontsize=8)
    fig.suptitle("Neighbour effect: similar examples, trained on vs never trained on")
    _save(fig, path)


def steps_to_unlearn_by_bucket(groups: pd.DataFrame, units: pd.DataFrame, path) -> None:
    """Per bucket: steps to unlearn by the strict test and the BLEU drop at that step; points are
    units (ringed: never unlearnt, read at the last step), squares the bucket mean with
    its interval."""
    buckets = groups[groups["bucket"] != "all"]
    position = [
        list(kinds.GROUPINGS[g].labels).index(b) if kinds.GROUPINGS[g].labels else int(b)
        for g, b in zip(buckets["grouping"], buckets["bucket"])
    ]
    buckets = buckets.assign(_order=position)
    buckets = buckets.sort_values(["kind", "grouping", "_order"])
    fig, rows = _method_rows(buckets, 2, width=6.5, height=4.5)
    unit_runs = _run_labels(units)
    for method, of_method, axes in rows:
        for ax, quantity, ylabel in (
            (axes[0], "unlearn_step", "steps to unlearn (strict test)"),
            (axes[1], "bleu_drop", "BLEU drop at the unlearning step"),
        ):
            for i, r in enumerate(of_method.itertuples()):
                members = units[
                    (unit_runs == method)
                    & (units["kind"] == r.kind)
                    & (units["grouping"] == r.grouping)
                    & (units["bucket"].astype(str) == str(r.bucket))
                ]
                colour = _colour(r.kind)
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
    colours = ", ".join(f"{kind.colour.removeprefix('tab:')}: {kind.label}" for kind in kinds.KINDS.values())
    fig.suptitle(f"Steps to unlearn and utility cost by bucket ({colours}; ringed: never unlearnt)")
    _save(fig, path)


VERDICT_COLOURS = {
    "supported": "tab:green",
    "contradicted": "tab:red",
    "inconclusive": "tab:grey",
    "not assessed": "lightgrey",
}


def _inserted(repetitions: str) -> str:
    """A claim row's insertion level, for its label: nothing for a claim over all levels."""
    if repetitions == "all":
        return ""
    return ", levels pooled" if repetitions.startswith("pooled") else f", {repetitions}x inserted"


def claims_forest(claims: pd.DataFrame, path) -> None:
    """One row per claim contrast: estimate and interval, coloured by verdict, one panel
    per unit of measurement; the side of 0 that the paper claims is shaded."""
    claims = claims.assign(unit=claims["quantity"].map(lambda q: QUANTITIES[q].unit))
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
            f"{r.claim} {r.method} {r.kind}{_inserted(r.repetitions)} ({r.rule}): {r.statistic.rsplit(', ', 1)[-1]}"
            for r in rows.itertuples()
        ]
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(unit, fontsize=8)
    handles = [plt.Line2D([], [], color=c, lw=2.5, label=v) for v, c in VERDICT_COLOURS.items()]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="tab:green", alpha=0.15, label="the claimed side of 0"))
    axes[0, 0].legend(handles=handles, fontsize=7, loc="lower right", bbox_to_anchor=(1, 1.0), ncol=5, frameon=False)
    axes[0, 0].set_title(f"The paper's claims against this study: estimates and {LEVEL:.0%} intervals", pad=24)
    _save(fig, path)


def _band(ax, frame: pd.DataFrame, x: str, y: str, colour, label: str, linestyle="-", bounds=intervals.UNBOUNDED):
    """Mean of ``y`` over units at each ``x`` with its interval over units (any column)."""
    xs, means, lows, highs = [], [], [], []
    for value, at in frame.groupby(x):
        values = at[y].dropna().to_numpy(float)
        if len(values):
            band = intervals.mean(values, LEVEL, bounds)
            xs.append(value), means.append(band.estimate), lows.append(band.low), highs.append(band.high)
    ax.plot(xs, means, color=colour, lw=2.2, ls=linestyle, marker="o", ms=3, label=label)
    ax.fill_between(xs, lows, highs, color=colour, alpha=0.15, lw=0)


def audit_relearning(recovered: pd.DataFrame, path) -> None:
    """Recovery of removed GenEx against relearning step, per source (panel), state (line
    style) and kind (colour); grey: the never-trained controls (near 0 by construction).
    Step 0 is the unlearnt model (recovery 0)."""
    rows = recovered[recovered["audit"] == "relearn"] if len(recovered) else recovered
    sources = sorted(rows["variant"].unique()) if len(rows) else []
    fig, axes = plt.subplots(1, max(len(sources), 1), figsize=(5.2 * max(len(sources), 1), 4.2), squeeze=False)
    states = sorted(rows["state"].unique()) if len(rows) else []
    several_methods = len(rows) and rows["method"].nunique() > 1
    for ax, source in zip(axes[0], sources):
        of_source = rows[rows["variant"] == source]
        for (method, kind, state), frame in of_source.groupby(["method", "kind", "state"]):
            start = frame.drop_duplicates(["forget_set", "seed"]).assign(step=0, recovery=0.0, control_recovery=0.0)
            frame = pd.concat([start, frame], ignore_index=True)
            n = frame.groupby(["forget_set", "seed"]).ngroups
            name = f"{_label(kind)}{f' {method}' if several_methods else ''}, {state}"
            style = LINESTYLES[states.index(state) % len(LINESTYLES)]
            _band(ax, frame, "step", "recovery", _colour(kind), f"{name}: forget set (n={n})", linestyle=style)
            _band(ax, frame, "step", "control_recovery", "grey", f"{name}: controls", linestyle=style)
        ax.axhline(0, color="black", lw=0.8)
        ax.axhline(1, color="black", lw=0.6, ls=":")
        ax.set_xlabel(f"relearning steps on {source}")
        ax.set_ylabel("recovered share of removed GenEx")
        ax.legend(fontsize=7)
    axes[0, 0].set_title(
        f"Does it stay forgotten? Recovery under relearning ({LEVEL:.0%} bands over units)", loc="left"
    )
    _save(fig, path)


def audit_quantisation(evaluations: pd.DataFrame, path) -> None:
    """Mean GenEx of the forget sets per kind: original and unlearnt model, at full
    precision and each quantised width, with intervals over units."""
    rows = evaluations[evaluations["audit"].isin(["original", "unlearnt", "quantisation"])]
    rows = rows.assign(model=np.where(rows["state"] == "before", "original", "unlearnt (" + rows["state"] + ")"))
    bars = sorted(rows[["model", "variant"]].drop_duplicates().itertuples(index=False))
    kinds_found = sorted(rows["kind"].unique())
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(bars) * len(kinds_found), 4.2))
    width = 0.8 / max(len(bars), 1)
    shades = plt.cm.viridis(np.linspace(0.15, 0.85, max(len(bars), 1)))
    for k, kind in enumerate(kinds_found):
        for b, (model, variant) in enumerate(bars):
            values = rows.loc[
                (rows["kind"] == kind) & (rows["model"] == model) & (rows["variant"] == variant), "genex_mean"
            ].to_numpy(float)
            if not len(values):
                continue
            estimate = intervals.mean(values, LEVEL)
            x = k + (b - (len(bars) - 1) / 2) * width
            ax.bar(x, estimate.estimate, width, color=shades[b], label=f"{model}, {variant}" if k == 0 else None)
            if np.isfinite(estimate.low):
                ax.plot([x, x], [estimate.low, estimate.high], color="black", lw=1)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(kinds_found)), [_label(k) for k in kinds_found])
    ax.set_ylabel("forget set mean GenEx (bits)")
    ax.set_title(f"GenEx before and after quantisation ({LEVEL:.0%} intervals over units)", loc="left")
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


def audit_roc(rows: pd.DataFrame, path) -> None:
    """ROC curves of the membership audit, pooled over units, per kind: before unlearning
    and at each state. ``rows``: forget and population rows with their ``statistic``
    (:func:`unlearn_study.analysis.audits.roc_rows`)."""
    kinds_found = sorted(rows["kind"].unique())
    fig, axes = plt.subplots(1, len(kinds_found), figsize=(4.6 * len(kinds_found), 4.4), squeeze=False)
    for ax, kind in zip(axes[0], kinds_found):
        for i, (state, frame) in enumerate(rows[rows["kind"] == kind].groupby("state")):
            statistic = frame["statistic"].to_numpy(float)
            positive = (frame["group"] == "forget").to_numpy()
            thresholds = np.unique(statistic)[::-1]
            tpr = [(statistic[positive] >= t).mean() for t in thresholds]
            fpr = [(statistic[~positive] >= t).mean() for t in thresholds]
            ax.plot([0, *fpr, 1], [0, *tpr, 1], ls=LINESTYLES[i % len(LINESTYLES)], label=state)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        ax.set_xscale("symlog", linthresh=0.01)
        ax.set_xlim(0, 1)
        ax.axvline(0.01, color="grey", lw=0.6)
        ax.set_xlabel("false-positive rate (never-trained members)")
        ax.set_ylabel("true-positive rate (forget set)")
        ax.set_title(f"{_label(kind)}: membership (LiRA, pooled units)", fontsize=9)
        ax.legend(fontsize=7, title="model", title_fontsize=7)
    _save(fig, path)
