"""JSON Schema validation of repository files, reported as positioned findings.

Our schemas live in ``schemas/`` (draft 2020-12). The contract schema layers
Runink's rules over the official ODCS schema, which ships in the
``open-data-contract-standard`` package and is registered here under its own URI.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import orjson
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from runink.findings import Finding, did_you_mean
from runink.yamlpos import KeyPath, YamlDocument, format_keypath

ODCS_SCHEMA_URI = "https://bitol-io.github.io/open-data-contract-standard/schema/v3.2.0.json"
SCHEMA_BASE = "https://runink.dev/schemas/v1/"
REPOSITORY_SCHEMA = SCHEMA_BASE + "repository.schema.json"
HERD_SCHEMA = SCHEMA_BASE + "herd.schema.json"
CONTRACT_SCHEMA = SCHEMA_BASE + "contract.schema.json"

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def schema_dir() -> Path:
    """The directory holding Runink's JSON Schemas."""
    return Path(str(importlib.resources.files("runink") / "schemas"))


def odcs_schema() -> dict[str, Any]:
    """The official ODCS JSON Schema, as shipped by open-data-contract-standard."""
    text = (importlib.resources.files("open_data_contract_standard") / "schema.json").read_bytes()
    schema: dict[str, Any] = orjson.loads(text)
    return schema


@functools.cache
def registry() -> Registry:
    """Every schema Runink validates against, by ``$id`` (nothing is fetched)."""
    resources: list[tuple[str, Resource]] = []
    for path in sorted(schema_dir().glob("*.schema.json")):
        contents = orjson.loads(path.read_bytes())
        resources.append((contents["$id"], Resource.from_contents(contents, DRAFT202012)))
    resources.append((ODCS_SCHEMA_URI, Resource.from_contents(odcs_schema())))
    return Registry().with_resources(resources)


@functools.cache
def validator(schema_id: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema with ``$id`` ``schema_id``."""
    schema = registry().contents(schema_id)
    return jsonschema.Draft202012Validator(schema, registry=registry())


def validate(document: YamlDocument, schema_id: str) -> list[Finding]:
    """Every schema violation of ``document``, each at the position it concerns."""
    findings: list[Finding] = []
    for error in validator(schema_id).iter_errors(document.data):
        findings.extend(_translate(error, document, schema_id))
    return findings


def _translate(error: ValidationError, doc: YamlDocument, schema_id: str) -> Iterator[Finding]:
    path: KeyPath = tuple(error.absolute_path)
    key = format_keypath(path)
    kind = str(error.validator)
    schema = error.schema if isinstance(error.schema, Mapping) else {}

    if kind in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, Mapping
    ):
        known = _known_properties(schema, schema_id)
        for name in _unexpected_names(error, known):
            child = (*path, name)
            hint = did_you_mean(name, known) or (
                f"allowed here: {', '.join(sorted(known))}" if known else ""
            )
            if not hint and kind == "unevaluatedProperties":
                hint = "extensions belong under customProperties"
            yield Finding(
                "schema.unknown-key",
                f"unknown key {name!r}",
                doc.position(child, key=True),
                format_keypath(child),
                hint,
            )
        return

    if kind in ("oneOf", "anyOf") and error.context:
        # Errors from a branch whose type matched say more than "wrong type" ones.
        relevant = [
            e
            for e in error.context
            if str(e.validator) not in ("type", "const", "enum")
            or len(e.absolute_path) > len(error.absolute_path)
        ]
        if relevant:
            for sub in relevant:
                yield from _translate(sub, doc, schema_id)
            return
        hint = str(schema.get("x-hint", ""))
        yield Finding(
            "schema.invalid",
            f"{_show(error.instance)} is not valid here" + (f": expected {hint}" if hint else ""),
            doc.position(path),
            key,
            "" if hint else _best_hint(error),
        )
        return

    yield _simple(kind, error, doc, path, key, schema)


def _simple(
    kind: str,
    error: ValidationError,
    doc: YamlDocument,
    path: KeyPath,
    key: str,
    schema: Mapping[str, Any],
) -> Finding:
    hint = _hint_for(error)
    instance = error.instance
    if kind == "required":
        missing = _QUOTED.search(error.message)
        name = missing.group(1) if missing else "?"
        where = key or "the document"
        return Finding(
            "schema.missing",
            f"missing required key {name!r} in {where}",
            doc.position(path),
            format_keypath((*path, name)),
            hint or f"add '{name}:'",
        )
    if kind == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        return Finding(
            "schema.type",
            f"expected {' or '.join(_type_word(n) for n in names)}, "
            f"got {_type_of(instance)} {_show(instance)}",
            doc.position(path),
            key,
            hint,
        )
    if kind in ("enum", "const"):
        value: Any = error.validator_value
        allowed: list[Any] = list(value) if kind == "enum" else [value]
        choices = ", ".join(_show(a) for a in allowed)
        suggestion = did_you_mean(str(instance), [str(a) for a in allowed])
        return Finding(
            "schema.value",
            f"expected {'one of ' if len(allowed) > 1 else ''}{choices}, got {_show(instance)}",
            doc.position(path),
            key,
            suggestion or hint,
        )
    if kind == "pattern":
        return Finding(
            "schema.format",
            f"{_show(instance)} is not in the expected form",
            doc.position(path),
            key,
            hint or f"it must match {error.validator_value}",
        )
    if kind == "propertyNames":
        return Finding(
            "schema.key-format",
            f"key {_show(instance)} is not in the expected form",
            doc.position(path),
            key,
            hint,
        )
    message = _QUOTED.sub(lambda m: repr(m.group(1)), error.message)
    if len(message) > 300:
        message = message[:297] + "..."
    return Finding(f"schema.{_kebab(kind)}", message, doc.position(path), key, hint)


def _unexpected_names(error: ValidationError, known: Iterable[str]) -> list[str]:
    instance = error.instance
    assert isinstance(instance, Mapping)
    known_set = set(known)
    if known_set and str(error.validator) == "additionalProperties":
        schema: Any = error.schema
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        return [
            str(k)
            for k in instance
            if k not in known_set and not any(p.search(str(k)) for p in patterns)
        ]
    # unevaluatedProperties names the offenders in its message only.
    inside = error.message.rsplit("(", 1)[-1]
    names = [m.group(1) for m in _QUOTED.finditer(inside)]
    return [n for n in names if n in instance] or [str(k) for k in instance if k not in known_set]


def _known_properties(schema: Mapping[str, Any], schema_id: str) -> list[str]:
    """Property names a schema (following $ref and allOf) declares."""
    seen: set[int] = set()
    names: set[str] = set()
    resolver = registry().resolver(base_uri=schema_id)

    def walk(node: Any, depth: int) -> None:
        if not isinstance(node, Mapping) or id(node) in seen or depth > 8:
            return
        seen.add(id(node))
        names.update(node.get("properties", {}))
        for sub in node.get("allOf", []):
            walk(sub, depth + 1)
        ref = node.get("$ref")
        if isinstance(ref, str):
            try:
                walk(resolver.lookup(ref).contents, depth + 1)
            except Unresolvable:  # a dangling $ref only costs us hints
                return

    walk(schema, 0)
    return sorted(names)


def _hint_for(error: Any) -> str:
    while error is not None:
        schema = error.schema
        if isinstance(schema, Mapping) and schema.get("x-hint"):
            return str(schema["x-hint"])
        error = error.parent
    return ""


def _best_hint(error: ValidationError) -> str:
    best = jsonschema.exceptions.best_match(error.context or [])
    return _QUOTED.sub(lambda m: repr(m.group(1)), best.message) if best else ""


def _type_word(name: Any) -> str:
    return {"object": "a mapping", "array": "a list", "null": "nothing"}.get(str(name), str(name))


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{...}"
    if isinstance(value, list):
        return "[...]"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()
