"""Rule train_model: one translation model trained (or resumed) with fairseq-train until
its validation loss stops improving or the update cap."""

from pathlib import Path

from unlearn_study.backends.fairseq import training
from unlearn_study.infra.stage import device, job, snakemake_object

snakemake = snakemake_object(globals(), "train_model")
with job(snakemake) as run:
    output = snakemake.output
    summary = training.train(
        dict(snakemake.params.hyper),
        data_dir=Path(snakemake.input.data),
        save_dir=Path(output.checkpoint).parent / "fairseq",
        seed=int(snakemake.wildcards.seed),
        checkpoint_out=Path(output.checkpoint),
        summary_out=Path(output.training),
        log_path=Path(snakemake.log[0]),
        device=device(snakemake),
        threads=snakemake.threads,
    )
    for record in summary["epochs"]:
        run.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
    run.log_params({"stopped_by": summary["stopped_by"], "best_epoch": summary["best_epoch"]})
    run.set_tags({"device": summary["device"], "dtype": summary["dtype"]})
    run.log_artifact(output.training)
