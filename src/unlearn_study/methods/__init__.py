"""Gradient-based unlearning methods: one module each in this package, found automatically.

A method is a frozen dataclass, subclass of :class:`Method`, registered with
:func:`register`. Its dataclass fields are its arguments (config
``unlearning.method_args.<name>``; the field defaults are the defaults) and
``args_schema`` gives their JSON-schema types for config validation. It declares what
the unlearning loop must give its loss: ``needs_retain`` (a batch of retained training
pairs) and ``needs_step0_nll`` (the forget examples' NLL under the model before
unlearning). To add a method, add one module here (see ``gradient_ascent.py``) and a
test; nothing else changes (docs/METHOD.md, *Unlearning*).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from typing import ClassVar

REGISTRY: dict[str, type[Method]] = {}


@dataclass(frozen=True)
class Method:
    """Base class. ``loss`` returns the scalar the optimiser minimises; all NLLs are nats
    per sequence (target pieces plus EOS), shape (batch,)."""

    name: ClassVar[str]
    needs_retain: ClassVar[bool] = False
    needs_step0_nll: ClassVar[bool] = False
    args_schema: ClassVar[dict] = {}

    def loss(self, forget_nll, *, forget_tokens, step0_nll=None, retain_nll=None):
        """``forget_tokens``: target tokens of each forget example (pieces + EOS)."""
        raise NotImplementedError


def register(cls: type[Method]) -> type[Method]:
    if cls.name in REGISTRY:
        raise ValueError(f"two unlearning methods are named {cls.name!r}")
    fields = {f.name for f in dataclasses.fields(cls)}
    if fields != set(cls.args_schema):
        raise ValueError(f"method {cls.name!r}: args_schema must describe exactly its fields {sorted(fields)}")
    REGISTRY[cls.name] = cls
    return cls


def create(name: str, args: dict | None = None) -> Method:
    """The method ``name`` with ``args`` overriding its defaults."""
    if name not in REGISTRY:
        raise ValueError(f"unknown unlearning method {name!r}; allowed: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](**(args or {}))


def arguments(name: str, args: dict | None = None) -> dict:
    """Every argument of method ``name`` with its value (defaults filled in)."""
    return dataclasses.asdict(create(name, args))


def module_of(name: str) -> str:
    """The module that defines method ``name`` (for the code hash of its unlearning jobs)."""
    return REGISTRY[name].__module__


for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
