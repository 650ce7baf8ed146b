# Unlearning each forget set with each method, then the study's summary.


# Step 0 of every unlearning job evaluates the same base model on the same populations,
# test set and retain sample: computed once here, read by every job.
rule base_evaluation:
    input:
        checkpoint=f"{R}/models/base/seed{SEEDS[0]}/checkpoint.pt",
        data=f"{R}/data/bin/base",
        spm=rules.train_subword.output.model,
        table=rules.example_table.output.table,
        test=rules.prepare_corpus.output.test,
        retained=rules.select_id_sets.output.retained,
    output:
        f"{R}/unlearning/base_evaluation.parquet",
    log:
        f"{R}/logs/base_evaluation.log",
    benchmark:
        f"{R}/benchmarks/base_evaluation.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        kinds=config["forget_sets"]["kinds"],
        retain_sample=UNLEARNING["retain_sample"],
        seed=UNLEARNING["seed"],
        generation=GENERATION,
        max_tokens=config["scoring"]["max_tokens"],
        code=code("base_evaluation.py"),
    script:
        "../workflow_scripts/base_evaluation.py"


rule unlearn:
    input:
        checkpoint=f"{R}/models/base/seed{SEEDS[0]}/checkpoint.pt",
        data=f"{R}/data/bin/base",
        spm=rules.train_subword.output.model,
        table=rules.example_table.output.table,
        forget=rules.select_forget_set.output[0],
        neighbours=rules.find_neighbours.output[0],
        test=rules.prepare_corpus.output.test,
        retained=rules.select_id_sets.output.retained,
        base=rules.base_evaluation.output[0],
    output:
        examples=f"{R}/unlearning/{{method}}/{{forget_set}}/examples.parquet",
        steps=f"{R}/unlearning/{{method}}/{{forget_set}}/steps.parquet",
        status=f"{R}/unlearning/{{method}}/{{forget_set}}/status.json",
    log:
        f"{R}/logs/unlearn_{{method}}_{{forget_set}}.log",
    benchmark:
        f"{R}/benchmarks/unlearn_{{method}}_{{forget_set}}.tsv"
    conda:
        "../envs/pipeline.yaml"
    threads: THREADS
    resources:
        gpu=GPU,
    params:
        method_args=method_args,
        settings=OPTIMISATION,
        retain_batch_size=retain_batch_size,
        retain_sample=UNLEARNING["retain_sample"],
        seed=UNLEARNING["seed"],
        generation=GENERATION,
        max_tokens=config["scoring"]["max_tokens"],
        code=lambda wc: code("unlearn.py", methods.module_of(wc.method)),
    script:
        "../workflow_scripts/unlearn.py"


rule summarise:
    input:
        steps=expand(f"{R}/unlearning/{{method}}/{{name}}/steps.parquet", method=METHODS, name=FORGET_SETS),
        examples=expand(f"{R}/unlearning/{{method}}/{{name}}/examples.parquet", method=METHODS, name=FORGET_SETS),
    output:
        steps=f"{R}/summary/steps.parquet",
        examples=f"{R}/summary/examples.parquet",
        table=f"{R}/summary/forget_sets.parquet",
        agreement=f"{R}/summary/agreement.parquet",
        markdown=report(f"{R}/summary/summary.md", caption="../report/summary.rst", category="Summary"),
        curves=report(f"{R}/figures/metric_curves.png", caption="../report/metric_curves.rst", category="Unlearning"),
        tradeoff=report(f"{R}/figures/tradeoff.png", caption="../report/tradeoff.rst", category="Unlearning"),
        tradeoff_difficulty=report(
            f"{R}/figures/tradeoff_difficulty.png", caption="../report/tradeoff_bucket.rst", category="Unlearning"
        ),
        tradeoff_memorisation=report(
            f"{R}/figures/tradeoff_memorisation.png", caption="../report/tradeoff_bucket.rst", category="Unlearning"
        ),
        neighbours=report(
            f"{R}/figures/neighbour_effect.png", caption="../report/neighbour_effect.rst", category="Unlearning"
        ),
        steps_to_unlearn=report(
            f"{R}/figures/steps_to_unlearn.png", caption="../report/steps_to_unlearn.rst", category="Unlearning"
        ),
    log:
        f"{R}/logs/summarise.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        tau=UNLEARNING["tau"],
        code=code("summarise.py"),
    script:
        "../workflow_scripts/summarise.py"
