"""Rule score_model: bits of every pool example under one trained model (teacher forcing)."""

import numpy as np
import pandas as pd

from unlearn_study.backends.fairseq import scoring
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import device, job, snakemake_object
from unlearn_study.metrics import core as metrics

snakemake = snakemake_object(globals(), "score_model")
with job(snakemake) as run:
    pool = pd.read_parquet(snakemake.input.pool)
    model = scoring.load_model(snakemake.input.checkpoint, snakemake.input.data, device=device(snakemake))
    encoded = scoring.encode_pairs(
        model.src_dict, model.tgt_dict, pool["src_pieces"], pool["tgt_pieces"], max_tokens=snakemake.params.max_tokens
    )
    bits = scoring.score(model, encoded)
    write_parquet(pd.DataFrame({"example_id": pool["example_id"], "bits": bits}), snakemake.output[0])
    run.log_metrics({"mean_bits_per_token": float(np.mean(metrics.bits_per_token(bits, encoded.target_lengths)))})
