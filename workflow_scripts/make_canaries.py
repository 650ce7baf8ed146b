"""Rule make_canaries: the canaries (secrets after a fixed prompt, or random subword
sequences), inserted or kept as the canary population."""

from unlearn_study.data import sets, subword
from unlearn_study.infra.io import write_parquet
from unlearn_study.infra.stage import job, snakemake_object

snakemake = snakemake_object(globals(), "make_canaries")
with job(snakemake) as run:
    p = snakemake.params
    canaries, population = sets.make_canaries(
        p.format,
        length=p.length,
        repetitions=p.repetitions,
        per_level=p.per_level,
        n_population=p.n_population,
        seed=p.seed,
        sp=subword.load(snakemake.input.spm),
        prompt=p.prompt,
        alphabet=p.alphabet,
    )
    write_parquet(canaries, snakemake.output.canaries)
    write_parquet(population, snakemake.output.population)
    run.log_metrics({"n_canaries": len(canaries), "n_population": len(population)})
