"""The ``@step`` decorator user step modules use to register functions by name.

The control plane never imports user modules: it discovers ``@step("Name")`` by
reading their source. Only a slice process imports them, and there this registry
maps the name in the Plan to the function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Keyword arguments of ``@step`` that name and order steps rather than configure them.
STEP_META_PARAMS = frozenset({"id", "after", "depends_on"})


@dataclass(frozen=True)
class RegisteredStep:
    name: str
    func: Callable[..., Any]
    batch: bool


_REGISTRY: dict[str, RegisteredStep] = {}


def step(name: str, *, batch: bool = False) -> Callable[[F], F]:
    """Register ``func`` as the user step ``name`` (per record, or per batch)."""

    def register(func: F) -> F:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.func is not func:
            raise ValueError(f"step {name!r} is registered twice")
        _REGISTRY[name] = RegisteredStep(name=name, func=func, batch=batch)
        return func

    return register


def registered(name: str) -> RegisteredStep | None:
    """The step registered under ``name`` in this process, if any."""
    return _REGISTRY.get(name)
