"""Rule make_canaries: random subword sequences, inserted or kept as the canary population."""

from unlearn_study.data import sets, subword
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "make_canaries")
with job(snakemake) as run:
    p = snakemake.params
    sp = subword.load(snakemake.input.spm)
    canaries, population = sets.make_canaries(
        subword.vocabulary_pieces(sp),
        length=p.length,
        repetitions=p.repetitions,
        per_level=p.per_level,
        n_population=p.n_population,
        seed=p.seed,
        decode=lambda pieces: subword.decode(sp, pieces),
    )
    write_parquet(canaries, snakemake.output.canaries)
    write_parquet(population, snakemake.output.population)
    run.log_metrics({"n_canaries": len(canaries), "n_population": len(population)})
