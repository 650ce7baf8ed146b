# Shared by the rules: code hashes, resources, input functions.


@functools.cache  # asked once per job (a thousand in a large study); the files do not change meanwhile
def code(script, *modules):
    """Hash of a stage's script and the project modules it imports (see provenance.code_hash):
    a params entry, so that editing the code a stage runs reruns that stage."""
    return code_hash(Path(workflow.basedir) / "workflow_scripts" / script, *modules)


# Metric modules are loaded by their registry, not imported: the stages that compute or
# read metrics hash them explicitly.
METRIC_MODULES = metrics.modules()


# GPU rules request one GPU unless the config pins them to the CPU.
GPU = 0 if config["model"]["device"] == "cpu" else 1
THREADS = config["model"]["threads"]


def corpus_params(corpus):
    """The corpus keys the splits depend on: the configured source's block, not the others'."""
    return {
        key: corpus[key] for key in ("source", corpus["source"], "min_words", "max_words", "max_train_pairs", "seed")
    }


def corpus_files(wildcards):
    """The files the configured source reads: editing one reruns the study."""
    source, settings = corpus_sources.of(config["corpus"])
    return source.files(settings)


def canary_characters(canaries):
    """The characters the subword vocabulary must hold for secrets to round-trip."""
    if canaries["format"] != "secret":
        return ""
    return "".join(sorted(set(canaries["alphabet"] + canaries["prompt"]) - {" "}))


# What a trained model depends on: config model minus the seed list (each job has its
# seed wildcard) and the resources.
MODEL_HYPERPARAMETERS = {k: v for k, v in config["model"].items() if k not in ("seeds", "threads", "device")}
UNLEARNING = config["unlearning"]


def in_model(wildcards):
    """The checkpoint and data of the model an unlearning job starts from: its forget
    set's half, the job's seed."""
    half = parse_forget_set(wildcards.forget_set).half
    return {
        "checkpoint": P.checkpoint.format(half=half, seed=wildcards.seed),
        "data": P.data_bin.format(half=half),
        "base": P.base_evaluation.format(half=half, seed=wildcards.seed),
    }


def method_args(wildcards):
    """The job's own method's arguments (defaults filled in), not the other methods'."""
    return methods.arguments(wildcards.method, UNLEARNING["method_args"].get(wildcards.method))


def retain_batch_size(wildcards):
    """Only methods that descend on retained pairs depend on their batch size."""
    return UNLEARNING["retain_batch_size"] if methods.REGISTRY[wildcards.method].needs_retain else None


# The optimisation of every unlearning job (unlearning.Settings without the seed and the
# batch size, which is the job's wildcard).
OPTIMISATION = {k: UNLEARNING[k] for k in ("optimizer", "lr", "steps", "eval_steps", "clip_norm")}


# What an unlearning job's tests decide with, at every step: the rules that count a set as
# unlearnt, the calibration split and the size of the damage sample (docs/METHOD.md).
TESTS = {
    "alpha": UNLEARNING["alpha"],
    "tau": UNLEARNING["tau"],
    "holdout": UNLEARNING["calibration"]["holdout"],
    "calibration_seed": UNLEARNING["calibration"]["seed"],
    "damage_sample": UNLEARNING["damage_sample"],
}


# The translation settings that decide the hypotheses; the batch budget, which decides
# only their speed, is a resource.
GENERATION = {k: UNLEARNING["generation"][k] for k in ("beam", "max_len_a", "max_len_b")}
GENERATION_TOKENS = UNLEARNING["generation"]["max_tokens"]
# Batch budgets of scoring and translation change results by float rounding only: resources,
# not params (editing them reruns nothing; tests/test_scoring.py and test_unlearning.py bound it).
SCORING_TOKENS = config["scoring"]["max_tokens"]
# Extraction is greedy whatever the beam: only the length caps decide its hypotheses.
EXTRACTION = {k: GENERATION[k] for k in ("max_len_a", "max_len_b")}


def unlearning_outputs(template):
    """One file of every unlearning job (method x batch size x forget set x unlearnt seed)."""
    return expand(template, method=METHODS, batch=BATCHES, forget_set=FORGET_SETS, seed=UNLEARN_SEEDS)


# The trained models (every half and seed) and those unlearnt from, as the params of the
# rules that read one file of each: the inputs come from the same list, so file i is
# model i by construction.
MODELS = [{"half": half, "seed": seed} for half in HALVES for seed in SEEDS]
UNLEARNT_MODELS = [{"half": half, "seed": seed} for half in HALVES for seed in UNLEARN_SEEDS]


def of_models(template, models):
    return [template.format(**model) for model in models]


# What an audit job's outputs depend on beyond its unlearning run (study/audit.Settings).
AUDITS = config["audits"]
AUDIT_SETTINGS = {
    "states": AUDITS["states"],
    "relearn_sources": AUDITS["relearn"]["sources"],
    "relearn_steps": AUDITS["relearn"]["steps"],
    "relearn_eval_steps": AUDITS["relearn"]["eval_steps"],
    "relearn_lr": AUDITS["relearn"]["lr"],
    "relearn_batch_size": AUDITS["relearn"]["batch_size"],
    "forget_fraction": AUDITS["relearn"]["forget_fraction"] if "forget" in AUDITS["relearn"]["sources"] else None,
    "quantisation_bits": AUDITS["quantisation"]["bits"],
    "seed": AUDITS["seed"],
}
AUDITED_SETS = [
    name
    for name in FORGET_SETS
    if (AUDITS["replicates"] is None or parse_forget_set(name).replicate in AUDITS["replicates"])
    and (AUDITS["groupings"] is None or parse_forget_set(name).grouping in AUDITS["groupings"])
]


def audit_outputs(template):
    """One file of every audit job: the unlearning units whose forget set's grouping and replicate are audited."""
    return expand(template, method=METHODS, batch=BATCHES, forget_set=AUDITED_SETS, seed=UNLEARN_SEEDS)
