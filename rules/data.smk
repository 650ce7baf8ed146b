# Data: corpus splits, ID sets, subword model, canaries, halves, fairseq binaries.


rule prepare_corpus:
    input:
        corpus_files,
    output:
        train=P.train,
        valid=P.valid,
        test=P.test,
        stats=P.corpus_stats,
    log:
        P.log("prepare_corpus"),
    benchmark:
        P.benchmark("prepare_corpus")
    conda:
        "../envs/pipeline.yaml"
    params:
        corpus=corpus_params(config["corpus"]),
        code=code("prepare_corpus.py", corpus_sources.module_of(config["corpus"]["source"])),
    script:
        "../workflow_scripts/prepare_corpus.py"


rule select_id_sets:
    input:
        train=rules.prepare_corpus.output.train,
    output:
        candidates=P.id_candidates,
        population=P.id_population,
        retained=P.retained,
    log:
        P.log("select_id_sets"),
    benchmark:
        P.benchmark("select_id_sets")
    conda:
        "../envs/pipeline.yaml"
    params:
        **config["id_sets"],
        code=code("select_id_sets.py"),
    script:
        "../workflow_scripts/select_id_sets.py"


# On the training pairs both halves share: no candidate and no population member.
rule train_subword:
    input:
        retained=rules.select_id_sets.output.retained,
    output:
        model=P.spm,
        dictionary=P.dictionary,
    log:
        P.log("train_subword"),
    benchmark:
        P.benchmark("train_subword")
    conda:
        "../envs/pipeline.yaml"
    params:
        **config["subword"],
        required_chars=canary_characters(config["canaries"]),
        code=code("train_subword.py"),
    script:
        "../workflow_scripts/train_subword.py"


rule make_canaries:
    input:
        spm=rules.train_subword.output.model,
    output:
        canaries=P.canaries,
        population=P.canary_population,
    log:
        P.log("make_canaries"),
    benchmark:
        P.benchmark("make_canaries")
    conda:
        "../envs/pipeline.yaml"
    params:
        **config["canaries"],
        code=code("make_canaries.py"),
    script:
        "../workflow_scripts/make_canaries.py"


rule split_halves:
    input:
        candidates=rules.select_id_sets.output.candidates,
        canaries=rules.make_canaries.output.canaries,
    output:
        P.halves,
    log:
        P.log("split_halves"),
    benchmark:
        P.benchmark("split_halves")
    conda:
        "../envs/pipeline.yaml"
    params:
        seed=config["halves"]["seed"],
        code=code("split_halves.py"),
    script:
        "../workflow_scripts/split_halves.py"


rule binarize:
    input:
        retained=rules.select_id_sets.output.retained,
        candidates=rules.select_id_sets.output.candidates,
        canaries=rules.make_canaries.output.canaries,
        halves=rules.split_halves.output[0],
        valid=rules.prepare_corpus.output.valid,
        test=rules.prepare_corpus.output.test,
        spm=rules.train_subword.output.model,
        dictionary=rules.train_subword.output.dictionary,
    output:
        directory(P.data_bin),
    log:
        P.log("binarize"),
    benchmark:
        P.benchmark("binarize")
    conda:
        "../envs/pipeline.yaml"
    params:
        code=code("binarize.py"),
    script:
        "../workflow_scripts/binarize.py"
