"""Rule train_model: one translation model trained (or resumed) with fairseq-train."""

from pathlib import Path

from unlearn_study import training
from unlearn_study.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "train_model")
with job(snakemake) as run:
    output = snakemake.output
    epochs = training.train(
        dict(snakemake.params.hyper),
        data_dir=Path(snakemake.input.data),
        save_dir=Path(output.checkpoint).parent / "fairseq",
        seed=int(snakemake.wildcards.seed),
        checkpoint_out=Path(output.checkpoint),
        epoch_log_out=Path(output.epochs),
        log_path=Path(snakemake.log[0]),
        device=snakemake.config["model"]["device"],
        threads=snakemake.threads,
    )
    for record in epochs:
        run.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
    run.log_artifact(output.epochs)
