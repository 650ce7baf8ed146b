"""Per-example scores (METHOD.md, section Scores).

The *pool* is every example the study scores: ID candidates, ID population, inserted
canaries, canary population and a test sample, each with its subword pieces. Each
trained model scores the pool once; the *example table* joins those scores:

- ``bits_base``/``bits_ref``: bits per sequence, seeds combined in probability space
  (``LME(l) = -log2 mean_s 2^(-l_s)``); ``bpt_*`` the same per token (``/ (|y|+1)``).
- ``mem = bits_ref - bits_base`` (bits): counterfactual memorisation.
- ``diff = bpt_ref``: difficulty, loss per token under a model that never saw z.
- ``diff_tercile`` (easy/medium/hard) and ``mem_tercile`` (low/medium/high), within
  each candidate kind (id, ood).
- ``exposure_rank`` / ``exposure_skewnorm``: Carlini exposure under the base model
  against the population of the example's kind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics, subword

CANDIDATE_KINDS = ("id", "ood")
POPULATION_OF = {"id": "id_population", "ood": "ood_population"}
DIFFICULTY_LABELS = ("easy", "medium", "hard")
MEMORISATION_LABELS = ("low", "medium", "high")


def scoring_pool(
    candidates, population, canaries, canary_population, test, test_sample: int, seed: int, sp
) -> pd.DataFrame:
    """All examples to score, with subword pieces; canaries keep their generated pieces."""
    rng = np.random.default_rng(seed)
    test = test.iloc[np.sort(rng.choice(len(test), size=min(test_sample, len(test)), replace=False))]
    test = pd.DataFrame(
        {
            "example_id": test["pair_id"].to_numpy(),
            "kind": "test",
            "repetitions": 0,
            "src": test["src"].to_numpy(),
            "tgt": test["tgt"].to_numpy(),
        }
    )
    text_sets = subword.with_pieces(pd.concat([candidates, population, test], ignore_index=True), sp)
    columns = ["example_id", "kind", "repetitions", "src", "tgt", "src_pieces", "tgt_pieces"]
    pool = pd.concat([text_sets[columns], canaries[columns], canary_population[columns]], ignore_index=True)
    return pool.assign(target_len=pool["tgt_pieces"].str.split().str.len().astype(np.int64))


def population(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The rows of ``table`` that form the population R of candidate kind ``kind``."""
    return table[table["kind"] == POPULATION_OF[kind]]


def example_table(pool: pd.DataFrame, base_bits: list[np.ndarray], ref_bits: list[np.ndarray]) -> pd.DataFrame:
    """Join per-seed scores (arrays aligned with ``pool``) into the example table."""
    table = pool.copy()
    for prefix, runs in (("base", base_bits), ("ref", ref_bits)):
        stacked = np.stack(runs, axis=1)
        for i, bits in enumerate(runs):
            table[f"bits_{prefix}_seed{i}"] = bits
        table[f"bits_{prefix}"] = metrics.lme(stacked, axis=1)
        table[f"bpt_{prefix}"] = table[f"bits_{prefix}"] / (table["target_len"] + 1)
    table["mem"] = table["bits_ref"] - table["bits_base"]
    table["diff"] = table["bpt_ref"]
    table["diff_tercile"] = None
    table["mem_tercile"] = None
    table["exposure_rank"] = np.nan
    table["exposure_skewnorm"] = np.nan
    for kind in CANDIDATE_KINDS:
        rows = table["kind"] == kind
        if not rows.any():
            continue
        table.loc[rows, "diff_tercile"] = metrics.terciles(table.loc[rows, "diff"].to_numpy(), DIFFICULTY_LABELS)
        table.loc[rows, "mem_tercile"] = metrics.terciles(table.loc[rows, "mem"].to_numpy(), MEMORISATION_LABELS)
        pop_bpt = population(table, kind)["bpt_base"].to_numpy()
        values = table.loc[rows, "bpt_base"].to_numpy()
        table.loc[rows, "exposure_rank"] = metrics.rank_exposure(values, pop_bpt)
        table.loc[rows, "exposure_skewnorm"] = metrics.skewnorm_exposure(values, metrics.fit_skewnorm(pop_bpt))
    return table


def summary(table: pd.DataFrame) -> dict:
    """Mean memorisation, difficulty and exposure per candidate group, for MLflow."""
    out = {}
    for (kind, reps), group in table[table["kind"].isin(CANDIDATE_KINDS)].groupby(["kind", "repetitions"]):
        name = "id" if kind == "id" else f"ood_r{reps}"
        out.update(
            {
                f"{name}.mem_mean": group["mem"].mean(),
                f"{name}.diff_mean": group["diff"].mean(),
                f"{name}.exposure_rank_mean": group["exposure_rank"].mean(),
                f"{name}.exposure_skewnorm_mean": group["exposure_skewnorm"].mean(),
            }
        )
    if (table["kind"] == "test").any():
        out["test.bpt_base_mean"] = table.loc[table["kind"] == "test", "bpt_base"].mean()
    return out
