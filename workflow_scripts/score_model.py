"""Rule score_model: bits of every pool example under one trained model (teacher forcing),
and whether greedy decoding of each candidate's source gives back its target (extraction
before unlearning)."""

from unlearn_study.infra.stage import snakemake_object
from unlearn_study.infra.warm import hand_to_worker

snakemake = snakemake_object(globals(), "score_model")
# In the job process this ends the script: the model's warm worker runs it (infra/warm.py).
hand_to_worker(snakemake, snakemake.input.checkpoint, snakemake.input.data)

import numpy as np
import pandas as pd

from unlearn_study.backends.fairseq import scoring
from unlearn_study.backends.fairseq.generation import Generation, translate
from unlearn_study.data import subword
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import device, job
from unlearn_study.infra.warm import load_model
from unlearn_study.metrics import core
from unlearn_study.study import kinds

with job(snakemake) as run:
    p = snakemake.params
    pool = pd.read_parquet(snakemake.input.pool)
    model = load_model(snakemake.input.checkpoint, snakemake.input.data, device(snakemake))
    encoded = scoring.encode_pairs(
        model.src_dict,
        model.tgt_dict,
        pool["src_pieces"],
        pool["tgt_pieces"],
        max_tokens=snakemake.resources.scoring_tokens,
    )
    bits = scoring.score(model, encoded)
    candidates = pool[pool["kind"].isin(kinds.KINDS)]
    sp = subword.load(snakemake.input.spm)
    hypotheses = translate(
        model,
        scoring.encode_pairs(model.src_dict, model.tgt_dict, candidates["src_pieces"], candidates["tgt_pieces"]),
        lambda pieces: subword.decode(sp, pieces),
        Generation(beam=1, **p.generation, max_tokens=snakemake.resources.generation_tokens),
    )
    extracted = np.full(len(pool), np.nan)
    extracted[pool.index.get_indexer(candidates.index)] = core.exact_match(hypotheses, candidates["tgt"].tolist())
    write_parquet(
        pd.DataFrame({"example_id": pool["example_id"], "bits": bits, "extracted": extracted}).assign(
            **model.computed_on()
        ),
        snakemake.output[0],
    )
    run.set_tags(model.computed_on())
    run.log_metrics(
        {
            "mean_bits_per_token": float(np.mean(core.bits_per_token(bits, encoded.target_lengths))),
            "candidates_extracted": float(np.nanmean(extracted)),
        }
    )
