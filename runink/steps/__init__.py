"""Built-in steps, sources and sinks, and the ``@step`` registry for user code.

``import runink`` (which every user step module does, in every slice) loads only the
registry; the catalogue and discovery (jsonschema, lark) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runink.steps.registry import RegisteredStep, registered, step

if TYPE_CHECKING:
    from runink.steps.catalog import (
        BUILTIN_STEPS,
        STEP_META_PARAMS,
        BuiltinStep,
        builtin_step,
        validate_params,
        validate_step_tag,
    )
    from runink.steps.discover import (
        STEP_ARGUMENTS,
        DiscoveredStep,
        Discovery,
        discover_all,
        discover_steps,
    )

_LAZY = {
    "BUILTIN_STEPS": "runink.steps.catalog",
    "STEP_META_PARAMS": "runink.steps.catalog",
    "BuiltinStep": "runink.steps.catalog",
    "builtin_step": "runink.steps.catalog",
    "validate_params": "runink.steps.catalog",
    "validate_step_tag": "runink.steps.catalog",
    "STEP_ARGUMENTS": "runink.steps.discover",
    "DiscoveredStep": "runink.steps.discover",
    "Discovery": "runink.steps.discover",
    "discover_all": "runink.steps.discover",
    "discover_steps": "runink.steps.discover",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'runink.steps' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "BUILTIN_STEPS",
    "STEP_ARGUMENTS",
    "STEP_META_PARAMS",
    "BuiltinStep",
    "DiscoveredStep",
    "Discovery",
    "RegisteredStep",
    "builtin_step",
    "discover_all",
    "discover_steps",
    "registered",
    "step",
    "validate_params",
    "validate_step_tag",
]
