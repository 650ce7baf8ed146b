# Input functions shared by the rules.

GPU = 0 if config["model"]["device"] == "cpu" else 1


def user_corpus_files(wildcards):
    c = config["corpus"]
    return [f for f in (c["src_file"], c["tgt_file"], c["tsv_file"]) if f and c["source"] != "bible"]


def binarize_inputs(wildcards):
    inputs = {
        "retained": rules.select_id_sets.output.retained,
        "valid": rules.prepare_corpus.output.valid,
        "test": rules.prepare_corpus.output.test,
        "spm": rules.train_subword.output.model,
        "dictionary": rules.train_subword.output.dictionary,
    }
    if wildcards.model == "base":
        inputs["candidates"] = rules.select_id_sets.output.candidates
        inputs["canaries"] = rules.make_canaries.output.canaries
    return inputs
