"""Checking events against the official OpenLineage JSON Schemas (spec 2-0-2).

The schemas are the unchanged upstream files (``OpenLineage.json`` and
``facets/*.json``); they are read from a directory, never fetched: from
``$RUNINK_OPENLINEAGE_SPECS``, else from ``shared/specs/openlineage`` next to the
source tree. Each facet with a standard key is checked against its own schema as well
as the core one, since the core schema alone accepts any object as a facet.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import orjson
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPECS_ENV: Final = "RUNINK_OPENLINEAGE_SPECS"
_CHECKED_FACETS: Final = 4096  # facets whose verdict is remembered (then forgotten at once)
_DEFAULT_SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "openlineage"


class SchemaUnavailable(RuntimeError):
    """The OpenLineage schema files are not where they are looked for."""


def specs_dir() -> Path:
    """Where the OpenLineage schema files are read from."""
    configured = os.environ.get(SPECS_ENV)
    return Path(configured) if configured else _DEFAULT_SPECS


class EventSchema:
    """Validates OpenLineage RunEvents as JSON data; ``problems`` says what is wrong."""

    def __init__(self, directory: Path) -> None:
        core_path = directory / "OpenLineage.json"
        try:
            core = json.loads(core_path.read_text(encoding="utf-8"))
            facets: dict[str, dict[str, Any]] = {}
            for path in sorted((directory / "facets").glob("*.json")):
                schema = json.loads(path.read_text(encoding="utf-8"))
                for key in schema.get("properties", {}):
                    facets[key] = schema
        except (OSError, ValueError) as exc:
            raise SchemaUnavailable(
                f"cannot read the OpenLineage schemas in {directory}: {exc}; "
                f"set {SPECS_ENV} to the directory holding OpenLineage.json and facets/"
            ) from None
        registry: Registry[Any] = Registry().with_resources(
            (doc["$id"], Resource.from_contents(doc)) for doc in (core, *facets.values())
        )
        checker = _format_checker()
        run_event = {"$ref": core["$id"] + "#/$defs/RunEvent"}
        self._core = Draft202012Validator(run_event, registry=registry, format_checker=checker)
        self._facets = {
            key: Draft202012Validator(schema, registry=registry, format_checker=checker)
            for key, schema in facets.items()
        }
        self._checked: dict[tuple[str, bytes], tuple[str, ...]] = {}

    def problems(self, event: object) -> list[str]:
        """What makes ``event`` not a valid RunEvent (empty when it is one)."""
        found = [_describe(e) for e in self._core.iter_errors(event)]
        if found or not isinstance(event, Mapping):
            return found or ["an event must be a JSON object"]
        for place, key, facet in _facets(event):
            found += [f"{place} facet {key}: {p}" for p in self._facet_problems(key, facet)]
        return found

    def _facet_problems(self, key: str, facet: object) -> tuple[str, ...]:
        validator = self._facets.get(key)
        if validator is None:
            return ()
        try:
            content = orjson.dumps(facet, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # not JSON data: the core check has said so already
            content = b""
        # Runs of a pipeline repeat most facets byte for byte (job, schema, data source):
        # a facet checked once need not be checked again.
        cached = self._checked.get((key, content)) if content else None
        if cached is None:
            cached = tuple(_describe(e) for e in validator.iter_errors({key: facet}))
            if content:
                if len(self._checked) >= _CHECKED_FACETS:
                    self._checked.clear()
                self._checked[(key, content)] = cached
        return cached


@cache
def event_schema(directory: Path | None = None) -> EventSchema:
    """The validator for the schemas in ``directory`` (default :func:`specs_dir`), loaded once."""
    return EventSchema(directory or specs_dir())


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(event)"
    return f"{where}: {error.message}"


def _facets(event: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    for place in ("run", "job"):
        part = event.get(place)
        if isinstance(part, Mapping):
            for key, facet in (part.get("facets") or {}).items():
                yield place, key, facet
    for dataset in (*(event.get("inputs") or ()), *(event.get("outputs") or ())):
        if isinstance(dataset, Mapping):
            for place in ("facets", "inputFacets", "outputFacets"):
                for key, facet in (dataset.get(place) or {}).items():
                    yield place, key, facet


def _format_checker() -> FormatChecker:
    # jsonschema checks "date-time" and "uri" only with optional packages: check here.
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(
            re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+", value)
        )

    return checker
