"""Rule calibrate: the band of the strict unlearning test per kind, fitted on part of the
never-trained population, and its false-positive rate on the rest; and both tests' power
before unlearning, per kind and repetition level."""

import pandas as pd

from unlearn_study.analysis import calibration
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "calibrate")
with job(snakemake) as run:
    p = snakemake.params
    table = pd.read_parquet(snakemake.input.table)
    rows = [
        calibration.calibrate(
            table,
            kind,
            alpha=p.alpha,
            mode=p.mode,
            holdout=p.holdout,
            seed=p.seed,
            level=p.level,
        )
        for kind in p.kinds
    ]
    calibrations = pd.DataFrame(rows)
    power = calibration.power(table, calibrations, alpha=p.alpha, holdout=p.holdout, seed=p.seed)
    write_parquet(calibrations, snakemake.output.calibration)
    write_parquet(power, snakemake.output.power)
    for row in rows:
        run.log_metrics({f"{row['kind']}.{k}": row[k] for k in ("band_low", "band_high", "fpr", "fpr_low", "fpr_high")})
    for r in power.itertuples():
        run.log_metrics(
            {f"{r.kind}_r{r.repetitions}.{test}": getattr(r, test) for test in ("strict_power", "specific_power")}
        )
