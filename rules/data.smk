# Data: corpus splits, ID sets, subword model, canaries, fairseq binaries.


rule prepare_corpus:
    input:
        user_corpus_files,
    output:
        train=f"{R}/data/corpus/train.parquet",
        valid=f"{R}/data/corpus/valid.parquet",
        test=f"{R}/data/corpus/test.parquet",
        stats=f"{R}/data/corpus/stats.json",
    params:
        corpus=config["corpus"],
        code=code_hash("jobs:prepare_corpus", "corpus", "io"),
    log:
        f"{R}/logs/prepare_corpus.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/prepare_corpus.py"


rule select_id_sets:
    input:
        train=rules.prepare_corpus.output.train,
    output:
        candidates=f"{R}/data/sets/id_candidates.parquet",
        population=f"{R}/data/sets/id_population.parquet",
        retained=f"{R}/data/sets/train_retained.parquet",
    params:
        id_sets=config["id_sets"],
        code=code_hash("jobs:select_id_sets", "sets", "io"),
    log:
        f"{R}/logs/select_id_sets.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/select_id_sets.py"


rule train_subword:
    input:
        retained=rules.select_id_sets.output.retained,
        candidates=rules.select_id_sets.output.candidates,
    output:
        model=f"{R}/data/subword/spm.model",
        dictionary=f"{R}/data/subword/dict.txt",
    params:
        subword=config["subword"],
        code=code_hash("jobs:train_subword", "subword", "io"),
    log:
        f"{R}/logs/train_subword.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/train_subword.py"


rule make_canaries:
    input:
        spm=rules.train_subword.output.model,
    output:
        canaries=f"{R}/data/sets/canaries.parquet",
        population=f"{R}/data/sets/canary_population.parquet",
    params:
        canaries=config["canaries"],
        code=code_hash("jobs:make_canaries", "sets", "subword", "io"),
    log:
        f"{R}/logs/make_canaries.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/make_canaries.py"


rule binarize:
    input:
        unpack(binarize_inputs),
    output:
        directory(f"{R}/data/bin/{{model}}"),
    params:
        code=code_hash("jobs:binarize", "binarize", "subword", "fairseq_run", "io"),
    log:
        f"{R}/logs/binarize_{{model}}.log",
    conda:
        "../envs/pipeline.yaml"
    script:
        "../workflow_scripts/binarize.py"
