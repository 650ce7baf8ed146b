"""What an unlearning job evaluates besides its forget set, and the shared step-0 file.

At every evaluated step a job scores the population of its forget set's kind, the test
set and a retain sample, and translates the test set. None of that depends on the forget
set, so at step 0 (the unlearning job's starting model) it is evaluated once by rule
``base_evaluation`` and stored as *parts*, each keyed by its rows' ids so that a job can
check it reads the very same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import examples, scoring
from .io import write_parquet
from .unlearning import ModelEvaluation


def retain_split(retained: pd.DataFrame, sample: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(evaluation sample of ``sample`` retained pairs, the disjoint rest that methods
    which descend on retained pairs draw from), seeded."""
    order = np.random.default_rng(seed).permutation(len(retained))
    n = min(sample, len(retained) // 2)
    return retained.iloc[np.sort(order[:n])], retained.iloc[np.sort(order[n:])]


def parts(table: pd.DataFrame, test: pd.DataFrame, retain_eval: pd.DataFrame, kinds) -> dict:
    """name -> (rows, id column): the populations of ``kinds``, the test set, the retain sample."""
    found = {f"population_{kind}": (examples.population(table, kind), "example_id") for kind in kinds}
    return {**found, "test": (test, "pair_id"), "retain": (retain_eval, "pair_id")}


def encode(model, df: pd.DataFrame, max_tokens: int) -> scoring.EncodedPairs:
    """The pieces of ``df`` encoded with the model's dictionaries, in scoring batches."""
    return scoring.encode_pairs(
        model.src_dict, model.tgt_dict, df["src_pieces"], df["tgt_pieces"], max_tokens=max_tokens
    )


def write_base_evaluation(result: ModelEvaluation, evaluated: dict, path) -> None:
    """One row per evaluated row: part, id, bits/token, and the hypothesis for test rows."""
    values = {
        **{f"population_{k}": v for k, v in result.population_bpt.items()},
        "test": result.test_bpt,
        "retain": result.retain_bpt,
    }
    table = pd.concat(
        [
            pd.DataFrame({"part": name, "id": df[key].astype(str).to_numpy(), "bpt": values[name]})
            for name, (df, key) in evaluated.items()
        ],
        ignore_index=True,
    )
    table["hypothesis"] = None
    table.loc[table["part"] == "test", "hypothesis"] = result.hypotheses
    write_parquet(table, path)


def read_base_evaluation(path, evaluated: dict, kind: str) -> ModelEvaluation:
    """The shared step-0 values, after checking they cover exactly this job's rows."""
    table = pd.read_parquet(path)
    values = {}
    for name, (df, key) in evaluated.items():
        rows = table[table["part"] == name]
        if rows["id"].tolist() != df[key].astype(str).tolist():
            raise ValueError(
                f"{path}: part {name!r} does not hold the rows this job evaluates; "
                "delete the file and rerun rule base_evaluation"
            )
        values[name] = rows
    return ModelEvaluation(
        population_bpt={kind: values[f"population_{kind}"]["bpt"].to_numpy()},
        test_bpt=values["test"]["bpt"].to_numpy(),
        retain_bpt=values["retain"]["bpt"].to_numpy(),
        hypotheses=values["test"]["hypothesis"].tolist(),
    )
