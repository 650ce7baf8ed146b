# Data: corpus splits, ID sets, subword model, canaries, fairseq binaries.


rule prepare_corpus:
    input:
        user_corpus_files,
    output:
        train=f"{R}/data/corpus/train.parquet",
        valid=f"{R}/data/corpus/valid.parquet",
        test=f"{R}/data/corpus/test.parquet",
        stats=f"{R}/data/corpus/stats.json",
    log:
        f"{R}/logs/prepare_corpus.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        corpus=corpus_params(config["corpus"]),
        code=code("prepare_corpus.py"),
    script:
        "../workflow_scripts/prepare_corpus.py"


rule select_id_sets:
    input:
        train=rules.prepare_corpus.output.train,
    output:
        candidates=f"{R}/data/sets/id_candidates.parquet",
        population=f"{R}/data/sets/id_population.parquet",
        retained=f"{R}/data/sets/train_retained.parquet",
    log:
        f"{R}/logs/select_id_sets.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        **config["id_sets"],
        code=code("select_id_sets.py"),
    script:
        "../workflow_scripts/select_id_sets.py"


rule train_subword:
    input:
        retained=rules.select_id_sets.output.retained,
        candidates=rules.select_id_sets.output.candidates,
    output:
        model=f"{R}/data/subword/spm.model",
        dictionary=f"{R}/data/subword/dict.txt",
    log:
        f"{R}/logs/train_subword.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        **config["subword"],
        code=code("train_subword.py"),
    script:
        "../workflow_scripts/train_subword.py"


rule make_canaries:
    input:
        spm=rules.train_subword.output.model,
    output:
        canaries=f"{R}/data/sets/canaries.parquet",
        population=f"{R}/data/sets/canary_population.parquet",
    log:
        f"{R}/logs/make_canaries.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        **config["canaries"],
        code=code("make_canaries.py"),
    script:
        "../workflow_scripts/make_canaries.py"


rule binarize:
    input:
        unpack(binarize_inputs),
    output:
        directory(f"{R}/data/bin/{{model}}"),
    log:
        f"{R}/logs/binarize_{{model}}.log",
    conda:
        "../envs/pipeline.yaml"
    params:
        code=code("binarize.py"),
    script:
        "../workflow_scripts/binarize.py"
