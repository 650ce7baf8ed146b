"""Configuration: one file of values, a schema of types, semantic checks, code hashes.

``config.yaml`` at the repository root holds every key with its value: it is the one
source of defaults. Other config files (``config/tiny.yaml``, a user's file) overlay it,
exactly as Snakemake merges ``--configfile`` over the Snakefile's ``configfile:``. The
schema (``schemas/config.schema.yaml``) holds types, ranges and descriptions only, and
requires every key, so a key missing from ``config.yaml`` is an error, not a silent
default. Everything here runs when the Snakefile is parsed, so a bad config fails before
any job starts, with one message that names the offending key.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG = ROOT / "config.yaml"
PACKAGE = Path(__file__).resolve().parent

# Modules that only log (MLflow, log files): editing them cannot change any output, so
# they are left out of the code hashes that decide reruns.
LOGGING_ONLY = {"unlearn_study.tracking", "unlearn_study.stage"}


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
    their registry (``unlearn_study.methods``)."""
    from . import methods

    spec = yaml.safe_load(SCHEMA_PATH.read_text())
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
    corpus = config["corpus"]
    if corpus["source"] == "files" and not (corpus["src_file"] and corpus["tgt_file"]):
        raise ConfigError(
            "config key 'corpus.src_file'/'corpus.tgt_file': both are required when corpus.source is 'files'"
        )
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
        raise ConfigError(
            f"config key 'unlearning.eval_steps': steps {beyond} are beyond unlearning.steps "
            f"({unlearning['steps']}); allowed values: 0..{unlearning['steps']}"
        )
    check_models(config)


def check_forget_set_sizes(config: dict) -> None:
    """Every bucket must hold its replicates: ceil(replicates / 2) disjoint sets from each
    half. Terciles are taken within a kind and half, so a half's tercile holds a third of
    the half's candidates of that kind; a repetition level holds per_level canaries, split
    evenly between the halves."""
    fs, canaries = config["forget_sets"], config["canaries"]
    per_half = -(-fs["replicates"] // 2) * fs["size"]
    n_ood = canaries["per_level"] * len(canaries["repetitions"])
    buckets = {}
    if "id" in fs["kinds"] and {"difficulty", "memorisation"} & set(fs["groupings"]):
        buckets["a tercile of id_sets.n_candidates in one half"] = config["id_sets"]["n_candidates"] // 2 // 3
    if "ood" in fs["kinds"] and {"difficulty", "memorisation"} & set(fs["groupings"]):
        buckets["a tercile of the canaries (canaries.per_level x levels) in one half"] = n_ood // 2 // 3
    if "ood" in fs["kinds"] and "repetition" in fs["groupings"]:
        buckets["canaries.per_level in one half"] = canaries["per_level"] // 2
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


def stable_hash(obj, length: int = 12) -> str:
    """Hash of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def module_path(name: str) -> Path | None:
    """Source file of project module ``name`` (``unlearn_study.x``), None for other modules."""
    parts = name.split(".")
    if parts[0] != PACKAGE.name:
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imported_modules(path: Path, module: str | None) -> set[str]:
    """Project modules that the file at ``path`` (module ``module``, None for a script) imports."""
    package = None
    if module is not None:
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module
            found.add(parent)
            found.update(f"{parent}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if module_path(name) is not None}


def code_dependencies(script: str | Path, *modules: str) -> dict[str, Path]:
    """Every project module that ``script`` (and ``modules``) import, transitively, by name.

    Imports are read from the source (``import`` statements anywhere, including inside
    functions), so a new helper module used by a stage is found without being listed.
    A package's ``__init__`` counts, but modules it loads dynamically (the registry of
    unlearning methods) do not: a rule adds those it runs through ``modules``.
    """
    todo = [(Path(script), None), *((module_path(m), m) for m in modules)]
    seen: dict[str, Path] = {}
    while todo:
        path, module = todo.pop()
        if module is not None:
            if module in seen or module in LOGGING_ONLY:
                continue
            seen[module] = path
        for name in _imported_modules(path, module):
            if name not in seen:
                todo.append((module_path(name), name))
                parent = name.rpartition(".")[0]
                if parent and parent not in seen and module_path(parent) is not None:
                    todo.append((module_path(parent), parent))  # importing a.b runs a/__init__
    return dict(sorted(seen.items()))


def code_hash(script: str | Path, *modules: str, length: int = 12) -> str:
    """Hash of a stage's script and of the project code it runs, for the rule's params.

    Snakemake reruns a job when its params change but not when a module imported by its
    script changes; this hash in params closes that gap.
    """
    digest = hashlib.sha256(Path(script).read_bytes())
    for name, path in code_dependencies(script, *modules).items():
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:length]
