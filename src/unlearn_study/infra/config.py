"""Configuration: one file of values, a schema of types, semantic checks.

``config.yaml`` at the repository root holds every key with its value: it is the one
source of defaults. Other config files (``config/tiny.yaml``, a user's file) overlay it,
exactly as Snakemake merges ``--configfile`` over the Snakefile's ``configfile:``. The
schema (``schemas/config.schema.yaml``) holds types, ranges and descriptions only, and
requires every key, so a key missing from ``config.yaml`` is an error, not a silent
default. Everything here runs when the Snakefile is parsed, so a bad config fails before
any job starts, with one message that names the offending key.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = ROOT / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = ROOT / "config.yaml"


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and what is allowed."""


def merge(base: dict, overlay: dict) -> dict:
    """``base`` updated recursively by ``overlay`` (Snakemake's --configfile semantics)."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*overlays: str | Path | dict) -> dict:
    """``config.yaml`` overlaid by each file or dict in ``overlays``, validated."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for overlay in overlays:
        if not isinstance(overlay, dict):
            overlay = yaml.safe_load(Path(overlay).read_text()) or {}
        config = merge(config, overlay)
    return validate_config(config)


def schema() -> dict:
    """The config schema, with the unlearning methods' names and arguments taken from
    their registry (``unlearn_study.methods``) and the corpus sources' names and
    sub-blocks from theirs (``unlearn_study.data.sources``)."""
    from unlearn_study import methods
    from unlearn_study.data import sources

    spec = yaml.safe_load(SCHEMA_PATH.read_text())
    corpus = spec["properties"]["corpus"]["properties"]
    corpus["source"]["enum"] = sorted(sources.REGISTRY)
    for name, source in sources.REGISTRY.items():
        corpus[name] = {
            "type": "object",
            "additionalProperties": False,
            "properties": source.schema,
            "required": sorted(source.schema),
        }
    unlearning = spec["properties"]["unlearning"]["properties"]
    unlearning["methods"]["items"] = {"enum": sorted(methods.REGISTRY)}
    unlearning["method_args"]["properties"] = {
        name: {"type": "object", "additionalProperties": False, "properties": method.args_schema}
        for name, method in methods.REGISTRY.items()
    }
    return spec


def _key(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(path + extra[:1]) or "<top level>"
    if error.validator == "required":
        missing = [k for k in error.schema["required"] if k not in error.instance]
        return ".".join(path + missing[:1])
    return ".".join(path) or "<top level>"


def _allowed(error: jsonschema.ValidationError) -> str:
    spec = error.schema
    if error.validator == "additionalProperties":
        return "allowed keys here: " + ", ".join(sorted(spec.get("properties", {})))
    if error.validator == "required":
        return f"every key has its value in {DEFAULT_CONFIG.name}; a config file overlays it"
    if "enum" in spec:
        return "allowed values: " + ", ".join(map(str, spec["enum"]))
    bits = [
        f"{name} {spec[name]}"
        for name in ("type", "minimum", "exclusiveMinimum", "maximum", "minItems")
        if name in spec
    ]
    return "expected " + ", ".join(bits) if bits else ""


def validate_config(config: dict) -> dict:
    """Check ``config`` (a complete config: ``config.yaml`` plus overlays); raise ConfigError."""
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"config key '{_key(error)}': {error.message}. {_allowed(error)}".strip())
    check_semantics(config)
    return config


def check_semantics(config: dict) -> None:
    """Cross-key checks that a JSON schema cannot express."""
    check_corpus(config["corpus"])
    corpus = config["corpus"]
    if corpus["min_words"] > corpus["max_words"]:
        raise ConfigError("config key 'corpus.min_words': must not exceed corpus.max_words")
    check_forget_set_sizes(config)
    unlearning = config["unlearning"]
    if 0 not in unlearning["eval_steps"]:
        raise ConfigError("config key 'unlearning.eval_steps': must include step 0 (the model before unlearning)")
    beyond = [s for s in unlearning["eval_steps"] if s > unlearning["steps"]]
    if beyond:
        raise ConfigError(
            f"config key 'unlearning.eval_steps': steps {beyond} are beyond unlearning.steps "
            f"({unlearning['steps']}); allowed values: 0..{unlearning['steps']}"
        )
    check_models(config)
    check_audits(config)


def check_audits(config: dict) -> None:
    audits = config["audits"]
    relearn = audits["relearn"]
    beyond = [s for s in relearn["eval_steps"] if s > relearn["steps"]]
    if beyond:
        raise ConfigError(
            f"config key 'audits.relearn.eval_steps': steps {beyond} are beyond audits.relearn.steps "
            f"({relearn['steps']}); allowed values: 1..{relearn['steps']}"
        )
    replicates = config["forget_sets"]["replicates"]
    missing = sorted(r for r in audits["replicates"] or () if r > replicates)
    if missing:
        raise ConfigError(
            f"config key 'audits.replicates': replicates {missing} do not exist (forget_sets.replicates is "
            f"{replicates}); allowed values: 1..{replicates}, or null for all"
        )
    absent = sorted(set(audits["groupings"] or ()) - set(config["forget_sets"]["groupings"]))
    if absent:
        raise ConfigError(
            f"config key 'audits.groupings': {absent} not in forget_sets.groupings "
            f"{config['forget_sets']['groupings']}; allowed values: those, or null for all"
        )
    if "forget" in relearn["sources"] and config["forget_sets"]["size"] < 2:
        raise ConfigError(
            "config key 'audits.relearn.sources': source forget needs forget_sets.size >= 2 (it trains on part "
            "of the set and measures the rest)"
        )


def check_corpus(corpus: dict) -> None:
    """The configured source has its block, and its files can be read (before any job)."""
    from unlearn_study.data import sources

    name = corpus["source"]
    if name not in corpus:
        raise ConfigError(f"config key 'corpus.{name}': required when corpus.source is '{name}'")
    source, settings = sources.of(corpus)
    try:
        source.check(settings)
    except sources.SourceError as e:
        raise ConfigError(f"config key 'corpus.{name}.{e.key}': {e}") from None


def check_forget_set_sizes(config: dict) -> None:
    """Every bucket must hold its replicates: ceil(replicates / 2) disjoint sets from each
    half. Terciles are taken within a kind, half and repetition level, so a half's tercile
    holds a third of the half's candidates of that kind; a repetition level holds its
    per-level candidates, split evenly between the halves."""
    from unlearn_study.study import kinds

    fs = config["forget_sets"]
    per_half = -(-fs["replicates"] // 2) * fs["size"]
    buckets = {}
    for name in fs["kinds"]:
        kind = kinds.of(name)
        groupings = set(fs["groupings"]) & set(kind.groupings)
        block = kind.config_block
        if groupings & {kinds.DIFFICULTY.name, kinds.MEMORISATION.name}:
            per_level_tercile = config[block]["per_level"] // 2 // 3
            buckets[f"a tercile of {block}.per_level x levels in one half"] = per_level_tercile * len(
                kind.levels(config)
            )
        if kinds.REPETITION.name in groupings:
            buckets[f"{block}.per_level in one half"] = config[block]["per_level"] // 2
    for what, available in buckets.items():
        if per_half > available:
            raise ConfigError(
                f"config key 'forget_sets.replicates': {fs['replicates']} replicates of forget_sets.size "
                f"{fs['size']} need {per_half} examples from each half of a bucket, more than {what} "
                f"({available}); lower forget_sets.replicates or forget_sets.size, or add candidates"
            )


def check_models(config: dict) -> None:
    model, unlearning = config["model"], config["unlearning"]
    missing = sorted(set(unlearning["seeds"]) - set(model["seeds"]))
    if missing:
        raise ConfigError(f"config key 'unlearning.seeds': seeds {missing} are not in model.seeds {model['seeds']}")
    if unlearning["calibration"]["mode"] == "per_example" and len(model["seeds"]) < 2:
        raise ConfigError(
            "config key 'unlearning.calibration.mode': per_example needs at least 2 seeds per half "
            "(model.seeds); allowed values: auto, pooled"
        )
    if config["claims"]["fixed_step"] not in unlearning["eval_steps"]:
        raise ConfigError(
            f"config key 'claims.fixed_step': {config['claims']['fixed_step']} is not an evaluated step; "
            f"allowed values: {sorted(unlearning['eval_steps'])}"
        )
