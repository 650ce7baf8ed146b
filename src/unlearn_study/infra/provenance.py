"""Provenance: hashes of configs and of the code a stage runs.

Snakemake reruns a job when its params change, but not when a module imported by its
script changes; every rule therefore carries :func:`code_hash` of its script and of the
project modules the script imports, found from the imports themselves.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]

# Modules that only log (MLflow, log files): editing them cannot change any output, so
# they are left out of the code hashes that decide reruns.
LOGGING_ONLY = {"unlearn_study.infra.tracking", "unlearn_study.infra.stage"}


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
            parent = module.rpartition(".")[0]
            if parent and module_path(parent) is not None:
                todo.append((module_path(parent), parent))  # importing a.b runs a/__init__
        for name in _imported_modules(path, module):
            if name not in seen:
                todo.append((module_path(name), name))
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
