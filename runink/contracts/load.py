"""Build a :class:`Contract` from a schema-valid ODCS document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runink.contracts.model import Contract, ContractProperty, SchemaObject
from runink.yamlpos import KeyPath, YamlDocument


def build_contract(doc: YamlDocument, sha: str) -> Contract:
    """The contract in ``doc`` (already validated against the contract schema)."""
    data: Mapping[str, Any] = doc.data
    schemas = tuple(
        _schema_object(obj, doc, ("schema", i))
        for i, obj in enumerate(data.get("schema") or ())
        if isinstance(obj, Mapping)
    )
    return Contract(
        id=str(data["id"]),
        version=str(data["version"]),
        api_version=str(data["apiVersion"]),
        path=doc.path,
        sha=sha,
        position=doc.position(("id",)),
        name=data.get("name"),
        status=data.get("status"),
        schemas=schemas,
        document=data,
    )


def contract_from_data(data: Mapping[str, Any], path: str = "", sha: str = "") -> Contract:
    """A contract from its (already validated) document, e.g. as shipped to a slice."""
    return build_contract(YamlDocument(path, data, {}, {}), sha)


def _schema_object(obj: Mapping[str, Any], doc: YamlDocument, at: KeyPath) -> SchemaObject:
    return SchemaObject(
        name=str(obj.get("name", "")),
        position=doc.position(at),
        physical_name=obj.get("physicalName"),
        properties=_properties(obj.get("properties"), doc, (*at, "properties")),
        quality=tuple(obj.get("quality") or ()),
    )


def _properties(items: Any, doc: YamlDocument, at: KeyPath) -> tuple[ContractProperty, ...]:
    return tuple(
        _property(p, doc, (*at, i)) for i, p in enumerate(items or ()) if isinstance(p, Mapping)
    )


def _property(p: Mapping[str, Any], doc: YamlDocument, at: KeyPath) -> ContractProperty:
    items = p.get("items")
    return ContractProperty(
        name=str(p.get("name", "")),
        position=doc.position(at),
        logical_type=p.get("logicalType"),
        physical_type=p.get("physicalType"),
        required=bool(p.get("required", False)),
        unique=bool(p.get("unique", False)),
        primary_key=bool(p.get("primaryKey", False)),
        primary_key_position=p.get("primaryKeyPosition"),
        classification=p.get("classification"),
        options=dict(p.get("logicalTypeOptions") or {}),
        enum=tuple(e.get("value") for e in p.get("enum") or () if isinstance(e, Mapping)),
        properties=_properties(p.get("properties"), doc, (*at, "properties")),
        items=_property(items, doc, (*at, "items")) if isinstance(items, Mapping) else None,
        quality=tuple(p.get("quality") or ()),
        description=str(p.get("description") or ""),
    )
