"""Per-example scores (docs/METHOD.md, *Scores*).

The *pool* is every example the study scores: ID candidates, ID population, inserted
canaries, canary population and a test sample, each with its subword pieces. Each
trained model (one per half and seed) scores the pool once; the *example table* joins
those scores. Bits are per sequence (target pieces plus EOS); seeds are combined in
probability space, ``LME(l) = -log2 mean_s 2^(-l_s)``:

- ``bits_{half}_seed{s}``: one model's bits; ``bits_A``/``bits_B``: LME over a half's seeds.
- ``half``: a candidate's half (None for populations and test pairs, which no model saw).
- ``bits_in``/``bits_out``: a candidate under its in-models (its own half) and its
  out-models (the other half); ``bpt_*`` the same per token (``/ (|y|+1)``);
  ``bits_out_mean``/``bits_out_sd``: plain mean and standard deviation over the
  out-model seeds (the per-example calibrated test).
- ``mem = bits_out - bits_in``: counterfactual memorisation.
- ``diff = bpt_out``: difficulty, loss per token under models that never saw z.
- ``diff_tercile`` (easy/medium/hard) and ``mem_tercile`` (low/medium/high), within
  each candidate kind, half and repetition level.
- ``exposure_rank`` / ``exposure_skewnorm``: Carlini exposure under the in-models
  against the population of the example's kind under the same models;
  ``exposure_ceiling``: the most rank exposure can be, ``log2(|R| + 1)``.
- ``extracted_{half}_seed{s}``: 1 where that model's greedy translation of a candidate's
  source is its target exactly; ``extracted_in``/``extracted_out``: the share of its in-
  and of its out-models that extract it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from unlearn_study.data import subword
from unlearn_study.metrics import core as metrics
from unlearn_study.study import kinds
from unlearn_study.study.kinds import HALVES


def scoring_pool(
    candidates, population, canaries, canary_population, test, test_sample: int, seed: int, sp
) -> pd.DataFrame:
    """All examples to score, with subword pieces; canaries keep their generated pieces."""
    rng = np.random.default_rng(seed)
    test = test.iloc[np.sort(rng.choice(len(test), size=min(test_sample, len(test)), replace=False))]
    test = pd.DataFrame(
        {
            "example_id": test["pair_id"].to_numpy(),
            "kind": kinds.TEST,
            "repetitions": 0,
            "src": test["src"].to_numpy(),
            "tgt": test["tgt"].to_numpy(),
        }
    )
    text_sets = subword.with_pieces(pd.concat([candidates, population, test], ignore_index=True), sp)
    columns = ["example_id", "kind", "repetitions", "src", "tgt", "src_pieces", "tgt_pieces"]
    pool = pd.concat([text_sets[columns], canaries[columns], canary_population[columns]], ignore_index=True)
    return pool.assign(target_len=pool["tgt_pieces"].str.split().str.len().astype(np.int64))


def example_table(pool: pd.DataFrame, halves: pd.DataFrame, bits: dict, extracted: dict) -> pd.DataFrame:
    """Join per-model scores into the example table. ``bits[(half, seed)]``: bits of every
    pool example under that model, aligned with ``pool``; ``extracted[(half, seed)]``: 1
    where the model's greedy translation of a candidate's source is its target exactly, 0
    where not, NaN for other examples; ``halves``: the candidates' halves."""
    table = pool.merge(halves[["example_id", "half"]], on="example_id", how="left", validate="one_to_one")
    table["half"] = table["half"].astype(object).where(table["half"].notna(), None)
    seeds = sorted({seed for _, seed in bits})
    for half in HALVES:
        runs = [bits[(half, seed)] for seed in seeds]
        for seed, run in zip(seeds, runs):
            table[f"bits_{half}_seed{seed}"] = run
            table[f"extracted_{half}_seed{seed}"] = extracted[(half, seed)]
        table[f"bits_{half}"] = metrics.lme(np.stack(runs, axis=1), axis=1)
        table[f"bpt_{half}"] = metrics.bits_per_token(table[f"bits_{half}"], table["target_len"])
    in_a, in_b = table["half"] == "A", table["half"] == "B"
    table["bits_in"] = np.where(in_a, table["bits_A"], np.where(in_b, table["bits_B"], np.nan))
    table["bits_out"] = np.where(in_a, table["bits_B"], np.where(in_b, table["bits_A"], np.nan))
    out_seeds = {h: table[[f"bits_{h}_seed{s}" for s in seeds]].to_numpy() for h in HALVES}
    out = np.where(in_a.to_numpy()[:, None], out_seeds["B"], out_seeds["A"])
    candidate = (in_a | in_b).to_numpy()
    table["bits_out_mean"] = np.where(candidate, out.mean(axis=1), np.nan)
    table["bits_out_sd"] = np.where(candidate, out.std(axis=1, ddof=1), np.nan) if len(seeds) > 1 else np.nan
    for side in ("in", "out"):
        table[f"bpt_{side}"] = metrics.bits_per_token(table[f"bits_{side}"], table["target_len"])
    extracted_by = {h: table[[f"extracted_{h}_seed{s}" for s in seeds]].mean(axis=1) for h in HALVES}
    table["extracted_in"] = np.where(in_a, extracted_by["A"], np.where(in_b, extracted_by["B"], np.nan))
    table["extracted_out"] = np.where(in_a, extracted_by["B"], np.where(in_b, extracted_by["A"], np.nan))
    table["mem"] = table["bits_out"] - table["bits_in"]
    table["diff"] = table["bpt_out"]
    table["diff_tercile"] = None
    table["mem_tercile"] = None
    table["exposure_rank"] = np.nan
    table["exposure_skewnorm"] = np.nan
    table["exposure_ceiling"] = np.nan
    for kind in kinds.KINDS:
        for half in HALVES:
            members = (table["kind"] == kind) & (table["half"] == half)
            if not members.any():
                continue
            # Terciles within the half and the repetition level: the half's candidates share
            # their in- and out-models, so a model's own offset (e.g. one model finding all
            # canaries a few bits harder) cannot put most of one half into one tercile; and
            # within the level, so that a bucket holds every level alike and a contrast of
            # terciles does not measure the insertion count.
            for _, level in table[members].groupby("repetitions"):
                for column, source, labels in (
                    (kinds.DIFFICULTY.column, "diff", kinds.DIFFICULTY.labels),
                    (kinds.MEMORISATION.column, "mem", kinds.MEMORISATION.labels),
                ):
                    table.loc[level.index, column] = metrics.terciles(level[source].to_numpy(), labels)
            pop_bpt = kinds.population(table, kind)[f"bpt_{half}"].to_numpy()
            values = table.loc[members, "bpt_in"].to_numpy()
            table.loc[members, "exposure_rank"] = metrics.rank_exposure(values, pop_bpt)
            table.loc[members, "exposure_skewnorm"] = metrics.skewnorm_exposure(values, metrics.fit_skewnorm(pop_bpt))
            table.loc[members, "exposure_ceiling"] = float(metrics.rank_exposure(-np.inf, pop_bpt))
    return table


SCORE_STATISTICS = (
    "mem_mean",
    "mem_se",
    "diff_mean",
    "exposure_rank_mean",
    "exposure_skewnorm_mean",
    "at_ceiling",
    "extracted_in",
    "extracted_out",
)


def score_groups(table: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate group (kind and repetition level, in the kinds' order, then by
    level): its size; mean memorisation, difficulty and exposure; the share at the rank
    exposure's ceiling (more likely than every reference); and the share extracted by
    greedy decoding, under its in-models and under its out-models."""
    rows = []
    for kind in kinds.KINDS.values():
        of_kind = table[table["kind"] == kind.name]
        single_level = of_kind["repetitions"].nunique() <= 1
        for level, group in of_kind.groupby("repetitions", sort=True):
            rows.append(
                {
                    "kind": kind.name,
                    "repetitions": int(level),
                    "name": kind.name if single_level else f"{kind.name}_r{level}",
                    "n": len(group),
                    "mem_mean": group["mem"].mean(),
                    "mem_se": group["mem"].std() / np.sqrt(len(group)),
                    "diff_mean": group["diff"].mean(),
                    "exposure_rank_mean": group["exposure_rank"].mean(),
                    "exposure_skewnorm_mean": group["exposure_skewnorm"].mean(),
                    "at_ceiling": float((group["exposure_rank"] >= group["exposure_ceiling"]).mean()),
                    "extracted_in": group["extracted_in"].mean(),
                    "extracted_out": group["extracted_out"].mean(),
                }
            )
    return pd.DataFrame(rows)


def population_check(table: pd.DataFrame) -> pd.DataFrame:
    """For each kind's population, which no model saw: the half-A-minus-half-B bits (mean,
    sd, standard error), near 0 when the halves' models are interchangeable counterfactuals."""
    rows = []
    for kind in kinds.KINDS.values():
        difference = kinds.population(table, kind.name)["bits_A"] - kinds.population(table, kind.name)["bits_B"]
        if len(difference):
            rows.append(
                {
                    "kind": kind.name,
                    "population": kind.population,
                    "n": len(difference),
                    "a_minus_b_mean": difference.mean(),
                    "a_minus_b_sd": difference.std(),
                    "a_minus_b_se": difference.std() / np.sqrt(len(difference)),
                }
            )
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> dict:
    """:func:`score_groups` and :func:`population_check` flattened to MLflow metric names
    (``ood_r16.mem_mean``, ``id_population.a_minus_b_mean``, ...), and the test sample's
    mean bits/token under the half-A models."""
    out = {}
    for r in score_groups(table).itertuples():
        out[f"{r.name}.n"] = r.n
        out.update({f"{r.name}.{stat}": getattr(r, stat) for stat in SCORE_STATISTICS})
    for r in population_check(table).itertuples():
        out.update(
            {f"{r.population}.{stat}": getattr(r, stat) for stat in ("a_minus_b_mean", "a_minus_b_sd", "a_minus_b_se")}
        )
        out[f"{r.population}.n"] = r.n
    if (table["kind"] == kinds.TEST).any():
        out["test.bpt_A_mean"] = table.loc[table["kind"] == kinds.TEST, "bpt_A"].mean()
    return out
