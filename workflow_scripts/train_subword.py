"""Rule train_subword: joint SentencePiece model on the training pairs both halves share (no
candidate, no population member) and the fairseq dictionary taken from its vocabulary."""

import pandas as pd

from unlearn_study.data import subword
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "train_subword")
with job(snakemake) as run:
    texts = []
    for path in snakemake.input:
        df = pd.read_parquet(path)
        texts += list(df["src"]) + list(df["tgt"])
    p = snakemake.params
    sp = subword.train(
        texts,
        snakemake.output.model,
        snakemake.output.dictionary,
        vocab_size=p.vocab_size,
        model_type=p.model_type,
        character_coverage=p.character_coverage,
        required_chars=p.required_chars,
    )
    run.log_metrics({"vocab_size": sp.get_piece_size()})
    run.log_artifact(snakemake.output.model)
