"""Configuration: schema validation with defaults, semantic checks, hashes.

Everything here runs when the Snakefile is parsed, so a bad config fails before any
job starts, with one message that names the offending key.
"""
from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and what is allowed."""


def _key(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(path + extra[:1]) or "<top level>"
    return ".".join(path) or "<top level>"


def _allowed(error: jsonschema.ValidationError) -> str:
    schema = error.schema
    if error.validator == "additionalProperties":
        return "allowed keys here: " + ", ".join(sorted(schema.get("properties", {})))
    if "enum" in schema:
        return "allowed values: " + ", ".join(map(str, schema["enum"]))
    bits = []
    for name in ("type", "minimum", "exclusiveMinimum", "maximum", "minItems"):
        if name in schema:
            bits.append(f"{name} {schema[name]}")
    return "expected " + ", ".join(bits) if bits else ""


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Validate ``config`` in place, filling schema defaults; raise ConfigError."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"config key '{_key(error)}': {error.message}. {_allowed(error)}".strip())
    # snakemake.utils.validate fills in the defaults (nested objects included).
    from snakemake.utils import validate

    validate(config, str(schema_path), set_default=True)
    check_semantics(config)
    return config


def check_semantics(config: dict) -> None:
    """Cross-key checks that a JSON schema cannot express."""
    corpus = config["corpus"]
    if corpus["source"] == "files" and not (corpus["src_file"] and corpus["tgt_file"]):
        raise ConfigError("config key 'corpus.src_file'/'corpus.tgt_file': both are required when corpus.source is 'files'")
    if corpus["source"] == "tsv" and not corpus["tsv_file"]:
        raise ConfigError("config key 'corpus.tsv_file': required when corpus.source is 'tsv'")
    if corpus["source"] == "bible":
        overlap = set(corpus["valid_books"]) & set(corpus["test_books"])
        if overlap:
            raise ConfigError(f"config key 'corpus.test_books': books {sorted(overlap)} are also in corpus.valid_books")
    if corpus["min_words"] > corpus["max_words"]:
        raise ConfigError("config key 'corpus.min_words': must not exceed corpus.max_words")
    check_forget_set_sizes(config)
    unlearning = config["unlearning"]
    if 0 not in unlearning["eval_steps"]:
        raise ConfigError("config key 'unlearning.eval_steps': must include step 0 (the model before unlearning)")
    beyond = [s for s in unlearning["eval_steps"] if s > unlearning["steps"]]
    if beyond:
        raise ConfigError(f"config key 'unlearning.eval_steps': steps {beyond} are beyond unlearning.steps "
                          f"({unlearning['steps']}); allowed values: 0..{unlearning['steps']}")


def check_forget_set_sizes(config: dict) -> None:
    """Every forget set must fit in its bucket (terciles hold about a third of a kind)."""
    fs, canaries = config["forget_sets"], config["canaries"]
    n_ood = canaries["per_level"] * len(canaries["repetitions"])
    buckets = {}
    if "id" in fs["kinds"] and {"difficulty", "memorisation"} & set(fs["groupings"]):
        buckets["a tercile of id_sets.n_candidates"] = config["id_sets"]["n_candidates"] // 3
    if "ood" in fs["kinds"] and {"difficulty", "memorisation"} & set(fs["groupings"]):
        buckets["a tercile of the canaries (canaries.per_level x levels)"] = n_ood // 3
    if "ood" in fs["kinds"] and "repetition" in fs["groupings"]:
        buckets["canaries.per_level"] = canaries["per_level"]
    for what, available in buckets.items():
        if fs["size"] > available:
            raise ConfigError(f"config key 'forget_sets.size': {fs['size']} is larger than {what} ({available}); "
                              f"allowed values: 1..{available}")


def stable_hash(obj, length: int = 12) -> str:
    """Hash of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def code_hash(*parts: str, length: int = 12) -> str:
    """Hash of the library code a rule runs, for the rule's params.

    Snakemake reruns a job when its params change but not when a module imported by its
    script changes; putting this hash in params closes that gap. A part is a module
    name ("corpus") or one function ("jobs:prepare_corpus"), so that editing one stage's
    glue does not rerun every other stage.
    """
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for part in sorted(set(parts)):
        module, _, function = part.partition(":")
        path = root / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = root / module.replace(".", "/") / "__init__.py"
        source = path.read_text()
        if function:
            tree = ast.parse(source)
            node = next((n for n in tree.body if getattr(n, "name", None) == function), None)
            if node is None:
                raise ValueError(f"code_hash: {module} has no top-level {function}")
            source = ast.get_source_segment(source, node)
        digest.update(part.encode())
        digest.update(source.encode())
    return digest.hexdigest()[:length]
