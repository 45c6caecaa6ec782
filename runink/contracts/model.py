"""The contract model: an ODCS v3 data contract, as the compiler and runtime use it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runink.findings import Position

SENSITIVE_CLASSIFICATIONS = frozenset({"restricted", "confidential", "pii", "sensitive"})


@dataclass(frozen=True)
class ContractProperty:
    """One property (field) of a schema object; objects and arrays nest."""

    name: str
    position: Position
    logical_type: str | None = None
    physical_type: str | None = None
    required: bool = False
    unique: bool = False
    primary_key: bool = False
    primary_key_position: int | None = None
    classification: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    enum: tuple[Any, ...] = ()
    properties: tuple[ContractProperty, ...] = ()
    items: ContractProperty | None = None
    quality: tuple[Mapping[str, Any], ...] = ()
    description: str = ""

    @property
    def sensitive(self) -> bool:
        return (self.classification or "").lower() in SENSITIVE_CLASSIFICATIONS


@dataclass(frozen=True)
class SchemaObject:
    """One schema object (a table, topic or file) of a contract."""

    name: str
    position: Position
    physical_name: str | None = None
    properties: tuple[ContractProperty, ...] = ()
    quality: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Contract:
    """An ODCS v3 data contract read from ``contracts/<name>.yaml``."""

    id: str
    version: str
    api_version: str
    path: str
    sha: str
    position: Position
    name: str | None = None
    status: str | None = None
    schemas: tuple[SchemaObject, ...] = ()
    document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def major_version(self) -> int | None:
        head = self.version.lstrip("vV").split(".", 1)[0]
        return int(head) if head.isdigit() else None

    def fields(self, schema: str | None = None) -> dict[str, str]:
        """Field path -> logical type, flattened (``a.b`` for nested objects)."""
        result: dict[str, str] = {}
        for obj in self.schemas:
            if schema is None or obj.name == schema:
                _flatten(obj.properties, "", result)
        return result


def _flatten(props: tuple[ContractProperty, ...], prefix: str, out: dict[str, str]) -> None:
    for prop in props:
        path = f"{prefix}{prop.name}"
        out[path] = prop.logical_type or "any"
        if prop.properties:
            _flatten(prop.properties, f"{path}.", out)
