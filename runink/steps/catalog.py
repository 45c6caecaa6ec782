"""The built-in steps, statically: name, one-line description, and parameters as JSON Schema.

The compiler validates a ``@step("Name", ...)`` tag's parameters here before it
builds a Plan; the runtime implementations live elsewhere and read the same names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

import jsonschema
from jsonschema.exceptions import ValidationError

from runink.dsl.errors import DslError
from runink.dsl.expr import compile_expression
from runink.dsl.nodes import ArgPath, Tag
from runink.findings import Finding, Position, did_you_mean
from runink.steps.registry import STEP_META_PARAMS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_FIELD = {"type": "string", "minLength": 1}
_FIELDS = {"type": "array", "items": _FIELD, "minItems": 1, "uniqueItems": True}
_METRIC = r"^(count\(\)|(sum|min|max|avg)\([A-Za-z_][A-Za-z0-9_.]*\))$"
_DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$"


@dataclass(frozen=True)
class BuiltinStep:
    """A built-in step: its parameters' JSON Schema (draft 2020-12) and what it does.

    ``expressions`` names the parameters that hold expressions (compiled with the
    record's contract when it is known).
    """

    name: str
    description: str
    schema: Mapping[str, Any]
    expressions: tuple[str, ...] = ()

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameter names, in the order documented."""
        return tuple(self.schema.get("properties", {}))

    @property
    def required(self) -> tuple[str, ...]:
        """The parameters that must be given."""
        return tuple(self.schema.get("required", ()))


def _schema(
    properties: dict[str, Any], required: tuple[str, ...] = (), **extra: Any
) -> Mapping[str, Any]:
    return MappingProxyType(
        {
            "$schema": SCHEMA_DIALECT,
            "type": "object",
            "properties": properties,
            "required": list(required),
            "additionalProperties": False,
            **extra,
        }
    )


BUILTIN_STEPS: Mapping[str, BuiltinStep] = {
    s.name: s
    for s in (
        BuiltinStep(
            "ValidateContract",
            "records that break the contract go to the DLQ, with every violation named",
            _schema(
                {"contract": {**_FIELD, "description": "id of the contract to check against"}},
                ("contract",),
            ),
        ),
        BuiltinStep(
            "MaskPII",
            "masks fields in place; hash is keyed (HMAC) and stable within a herd",
            _schema(
                {
                    "fields": {
                        **_FIELDS,
                        "description": "fields to mask (default: every field the contract "
                        "classifies restricted, confidential or pii)",
                    },
                    "method": {
                        "enum": ["hash", "redact", "tokenize"],
                        "default": "hash",
                        "description": "hash | redact | tokenize",
                    },
                }
            ),
        ),
        BuiltinStep(
            "Filter",
            "keeps records where the expression holds; the rest are counted as filtered",
            _schema(
                {"when": {**_FIELD, "description": "an expression, e.g. record.amount > 0"}},
                ("when",),
            ),
            expressions=("when",),
        ),
        BuiltinStep(
            "Select",
            "keeps only these fields",
            _schema({"fields": {**_FIELDS, "description": "fields to keep"}}, ("fields",)),
        ),
        BuiltinStep(
            "Rename",
            "renames fields",
            _schema(
                {
                    "mapping": {
                        "type": "object",
                        "additionalProperties": _FIELD,
                        "minProperties": 1,
                        "description": "{old: new}",
                    }
                },
                ("mapping",),
            ),
        ),
        BuiltinStep(
            "Dedupe",
            "drops later records with the same keys (counted as filtered)",
            _schema(
                {"keys": {**_FIELDS, "description": "fields that identify a record"}}, ("keys",)
            ),
        ),
        BuiltinStep(
            "Normalize",
            "normalises strings: trim, lower, upper, email",
            _schema(
                {
                    "fields": {**_FIELDS, "description": "string fields to normalise"},
                    "ops": {
                        "type": "array",
                        "items": {"enum": ["trim", "lower", "upper", "email"]},
                        "minItems": 1,
                        "uniqueItems": True,
                        "default": ["trim"],
                        "description": "applied in order: trim, lower, upper, email",
                    },
                },
                ("fields",),
            ),
        ),
        BuiltinStep(
            "Aggregate",
            "groups records and computes metrics; per window in a stream",
            _schema(
                {
                    "by": {
                        "type": "array",
                        "items": _FIELD,
                        "uniqueItems": True,
                        "description": "fields to group by (none: one group)",
                    },
                    "metrics": {
                        "type": "object",
                        "additionalProperties": {"type": "string", "pattern": _METRIC},
                        "minProperties": 1,
                        "description": '{name: "count()" | "sum(f)" | "min(f)" | "max(f)" '
                        '| "avg(f)"}',
                    },
                    "window": {
                        "type": "string",
                        "pattern": _DURATION,
                        "description": 'window length in a stream, e.g. "5m"',
                    },
                },
                ("metrics",),
            ),
        ),
    )
}


def builtin_step(name: str) -> BuiltinStep | None:
    """The built-in step called ``name``, if there is one."""
    return BUILTIN_STEPS.get(name)


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = dict(BUILTIN_STEPS[name].schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


Locate = Callable[[ArgPath], Position]


def validate_params(
    name: str,
    params: Mapping[str, Any],
    *,
    locate: Locate,
    locate_key: Callable[[str], Position] | None = None,
    fields: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every problem with ``params`` (plain JSON data) of built-in step ``name``.

    ``locate`` maps a parameter path (``("fields", 1)``) to where it was written;
    ``locate_key`` where a parameter name was written. ``fields`` (field path ->
    ODCS logical type) type-checks expression parameters when the contract is known.
    Unknown step names return no findings: the compiler knows the user steps.
    """
    step = BUILTIN_STEPS.get(name)
    if step is None:
        return []
    key_at = locate_key or (lambda key: locate((key,)))
    findings: list[Finding] = []
    known = step.parameters
    for key in params:
        if key in known or key in STEP_META_PARAMS:
            continue
        hint = did_you_mean(key, known) or (
            f"{name} takes {', '.join(known)}" if known else f"{name} takes no parameters"
        )
        findings.append(
            Finding(
                code="dsl.step-param",
                message=f"step {name!r} has no parameter {key!r}",
                position=key_at(key),
                hint=hint,
            )
        )
    checked = {k: v for k, v in params.items() if k not in STEP_META_PARAMS}
    for error in _validator(name).iter_errors(checked):
        if error.validator == "additionalProperties" and not error.absolute_path:
            continue  # reported above, with did-you-mean
        findings.append(_translate(name, step, error, checked, locate))
    for key in step.expressions:
        text = params.get(key)
        if isinstance(text, str) and text:
            start = locate((key,))
            start = Position(start.file, start.line, start.column + 1)  # past the quote
            try:
                compile_expression(text, start, fields, boolean=True)
            except DslError as err:
                findings.extend(err.findings)
    return findings


def _translate(
    name: str,
    step: BuiltinStep,
    error: ValidationError,
    params: Mapping[str, Any],
    locate: Locate,
) -> Finding:
    path: ArgPath = tuple(error.absolute_path)
    where = _format_path(path) or "parameters"
    kind = str(error.validator)
    top = str(path[0]) if path else ""
    description = step.schema.get("properties", {}).get(top, {}).get("description", "")
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else ""
        prop = step.schema.get("properties", {}).get(missing, {})
        return Finding(
            code="dsl.step-param",
            message=f"step {name!r} needs parameter {missing!r}",
            position=locate(()),
            hint=prop.get("description", ""),
        )
    if kind == "enum":
        options: list[Any] = list(cast(list[Any], error.validator_value))
        choices = ", ".join(repr(c) for c in options)
        value = error.instance
        return Finding(
            code="dsl.step-param",
            message=f"step {name!r} {where}: {value!r} is not one of {choices}",
            position=locate(path),
            hint=did_you_mean(str(value), [str(c) for c in options]) or description,
        )
    if kind == "pattern":
        return Finding(
            code="dsl.step-param",
            message=f"step {name!r} {where}: {error.instance!r} is not valid",
            position=locate(path),
            hint=description,
        )
    return Finding(
        code="dsl.step-param",
        message=f"step {name!r} {where}: {error.message}",
        position=locate(path),
        hint=description,
    )


def _format_path(path: ArgPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def validate_step_tag(tag: Tag, *, fields: Mapping[str, str] | None = None) -> list[Finding]:
    """Every problem with the parameters of a ``@step("Builtin", ...)`` tag, positioned."""
    if tag.name != "step" or not tag.args or not isinstance(tag.args[0], str):
        return []
    return validate_params(
        tag.args[0],
        tag.plain_kwargs(),
        locate=lambda path: tag.position_of(path) if path else tag.position,
        locate_key=tag.key_position,
        fields=fields,
    )
