"""Built-in steps, sources and sinks, and the ``@step`` registry for user code.

``import runink`` (which every user step module does, in every slice) loads only the
registry; the catalogue and discovery (jsonschema, lark) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from runink.steps.registry import STEP_META_PARAMS, RegisteredStep, registered, step

if TYPE_CHECKING:
    from runink.steps.builtin import AssertStep
    from runink.steps.catalog import (
        BUILTIN_STEPS,
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
    from runink.steps.runtime import (
        DlqEntry,
        StepConfigError,
        StepContext,
        StepImpl,
        StepLoadError,
        StepOutcome,
        UserContext,
        UserStep,
        load_user_step,
        make_step,
        user_step,
    )

_LAZY = {
    "BUILTIN_STEPS": "runink.steps.catalog",
    "BuiltinStep": "runink.steps.catalog",
    "builtin_step": "runink.steps.catalog",
    "validate_params": "runink.steps.catalog",
    "validate_step_tag": "runink.steps.catalog",
    "STEP_ARGUMENTS": "runink.steps.discover",
    "DiscoveredStep": "runink.steps.discover",
    "Discovery": "runink.steps.discover",
    "discover_all": "runink.steps.discover",
    "discover_steps": "runink.steps.discover",
    "AssertStep": "runink.steps.builtin",
    "DlqEntry": "runink.steps.runtime",
    "StepConfigError": "runink.steps.runtime",
    "StepContext": "runink.steps.runtime",
    "StepImpl": "runink.steps.runtime",
    "StepLoadError": "runink.steps.runtime",
    "StepOutcome": "runink.steps.runtime",
    "UserContext": "runink.steps.runtime",
    "UserStep": "runink.steps.runtime",
    "load_user_step": "runink.steps.runtime",
    "make_step": "runink.steps.runtime",
    "user_step": "runink.steps.runtime",
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
    "AssertStep",
    "BuiltinStep",
    "DiscoveredStep",
    "Discovery",
    "DlqEntry",
    "RegisteredStep",
    "StepConfigError",
    "StepContext",
    "StepImpl",
    "StepLoadError",
    "StepOutcome",
    "UserContext",
    "UserStep",
    "builtin_step",
    "discover_all",
    "discover_steps",
    "load_user_step",
    "make_step",
    "registered",
    "step",
    "user_step",
    "validate_params",
    "validate_step_tag",
]
