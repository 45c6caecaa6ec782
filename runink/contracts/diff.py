"""Contract diff: every change between two ODCS documents, classified per perspective.

Rules follow datacontract-cli's breaking-change rule set, split the way schema
registries split compatibility:

* **consumer** (readers of the data): removals, type changes and loosened guarantees
  break them (``required`` -> optional, ``unique`` dropped, a wider enum or range);
* **producer** (writers of the data): additions they must now satisfy break them (a
  required property, optional -> ``required``, tightened constraints, type changes).

Each :class:`Change` carries a stable rule id, a severity for each perspective
(``error`` breaks, ``warning`` may break, ``info`` does not), the field path and
where it is written: NEW's position, or OLD's for a removal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from runink.findings import Position
from runink.yamlpos import KeyPath, YamlDocument

PERSPECTIVES = ("consumer", "producer")
ERROR, WARNING, INFO = "error", "warning", "info"
_RANK = {ERROR: 2, WARNING: 1, INFO: 0}

# logicalTypeOptions bounds: raising a lower bound or lowering an upper one tightens.
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
# Options whose change cannot be decided in general (a regex against a regex).
_UNDECIDABLE = ("pattern", "format", "multipleOf", "timezone")


@dataclass(frozen=True)
class Change:
    """One difference between two versions of a contract."""

    rule: str
    path: str
    message: str
    position: Position
    consumer: str
    producer: str

    def severity(self, perspective: str) -> str:
        """``error``, ``warning`` or ``info`` as seen by ``perspective``."""
        return self.consumer if perspective == "consumer" else self.producer

    def to_dict(self, perspective: str) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "path": self.path,
            "severity": self.severity(perspective),
            "consumer": self.consumer,
            "producer": self.producer,
            "message": self.message,
            "file": self.position.file,
            "line": self.position.line,
            "column": self.position.column,
        }


@dataclass(frozen=True)
class ContractDiff:
    """The changes from OLD to NEW, and the version rule's verdict on them."""

    old_id: str
    new_id: str
    old_version: str
    new_version: str
    changes: tuple[Change, ...]
    version_position: Position

    def errors(self, perspective: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.severity(perspective) == ERROR)

    def breaking(self, perspective: str) -> bool:
        return bool(self.errors(perspective))

    def version_problem(self, perspective: str) -> Change | None:
        """The version rule: breaking needs a major bump; any change needs a new version."""
        if not self.changes or self.old_id != self.new_id:
            return None
        old_major, new_major = major_of(self.old_version), major_of(self.new_version)
        if self.breaking(perspective) and (
            old_major is None or new_major is None or new_major <= old_major
        ):
            count = len(self.errors(perspective))
            return Change(
                "version-major-not-bumped",
                "version",
                f"{count} breaking change(s) for {perspective}s but version "
                f"{self.old_version} -> {self.new_version} keeps the major version",
                self.version_position,
                ERROR,
                ERROR,
            )
        if self.old_version == self.new_version:
            return Change(
                "version-unchanged",
                "version",
                f"the contract changed but its version is still {self.new_version}",
                self.version_position,
                WARNING,
                WARNING,
            )
        return None


def major_of(version: str) -> int | None:
    """The semver major of ``1.2.3`` / ``v2.0`` / ``3``; None when it is not a number."""
    head = version.strip().lstrip("vV").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def diff_contracts(old: YamlDocument, new: YamlDocument) -> ContractDiff:
    """Every change from contract document ``old`` to ``new`` (both schema-valid)."""
    walker = _Walker(old, new)
    walker.top()
    return ContractDiff(
        old_id=str(old.data.get("id", "")),
        new_id=str(new.data.get("id", "")),
        old_version=str(old.data.get("version", "")),
        new_version=str(new.data.get("version", "")),
        changes=tuple(walker.changes),
        version_position=new.position(("version",)),
    )


def worst(changes: Sequence[Change], perspective: str) -> str:
    """The highest severity among ``changes`` (``info`` when there are none)."""
    return max((c.severity(perspective) for c in changes), key=_RANK.__getitem__, default=INFO)


def _canon(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def _enum_values(prop: Mapping[str, Any]) -> list[Any]:
    values = []
    for entry in prop.get("enum") or ():
        values.append(entry.get("value") if isinstance(entry, Mapping) else entry)
    return values


def _named(items: Any) -> dict[str, tuple[int, Mapping[str, Any]]]:
    return {
        str(item.get("name", "")): (i, item)
        for i, item in enumerate(items or ())
        if isinstance(item, Mapping)
    }


def _show(value: Any) -> str:
    return orjson.dumps(value).decode() if not isinstance(value, str) else repr(value)


class _Walker:
    """Walks OLD and NEW side by side, collecting changes with positions."""

    def __init__(self, old: YamlDocument, new: YamlDocument) -> None:
        self.old = old
        self.new = new
        self.changes: list[Change] = []

    def add(
        self,
        rule: str,
        path: str,
        message: str,
        consumer: str,
        producer: str,
        *,
        at_new: KeyPath | None = None,
        at_old: KeyPath | None = None,
    ) -> None:
        position = (
            self.new.position(at_new, key=True)
            if at_new is not None
            else self.old.position(at_old or (), key=True)
        )
        self.changes.append(Change(rule, path, message, position, consumer, producer))

    def top(self) -> None:
        old, new = self.old.data, self.new.data
        if old.get("id") != new.get("id"):
            self.add(
                "contract-id-changed",
                "id",
                f"id changed from {old.get('id')!r} to {new.get('id')!r}: a new contract, "
                "and the old one is gone",
                ERROR,
                ERROR,
                at_new=("id",),
            )
        if old.get("status") != new.get("status"):
            deprecated = str(new.get("status", "")).lower() in ("deprecated", "retired")
            self.add(
                "status-changed",
                "status",
                f"status changed from {old.get('status')!r} to {new.get('status')!r}",
                WARNING if deprecated else INFO,
                INFO,
                at_new=("status",),
            )
        olds, news = _named(old.get("schema")), _named(new.get("schema"))
        for name, (i, _obj) in olds.items():
            if name not in news:
                self.add(
                    "schema-removed",
                    name,
                    f"schema object {name!r} was removed",
                    ERROR,
                    INFO,
                    at_old=("schema", i),
                )
        for name, (j, obj) in news.items():
            if name not in olds:
                self.add(
                    "schema-added",
                    name,
                    f"schema object {name!r} was added",
                    INFO,
                    INFO,
                    at_new=("schema", j),
                )
                continue
            i, before = olds[name]
            self.schema_object(name, before, obj, ("schema", i), ("schema", j))

    def schema_object(
        self,
        name: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        at_old: KeyPath,
        at_new: KeyPath,
    ) -> None:
        self.physical_name(name, old, new, at_old, at_new)
        for key, rule in (("logicalType", "schema-type-changed"), ("physicalType", None)):
            if old.get(key) != new.get(key):
                self.add(
                    rule or "schema-physical-type-changed",
                    name,
                    f"{key} of {name!r} changed from {_show(old.get(key))} to "
                    f"{_show(new.get(key))}",
                    ERROR if rule else WARNING,
                    ERROR if rule else WARNING,
                    at_new=(*at_new, key),
                )
        self.quality(name, old, new, at_old, at_new)
        self.properties(name, old, new, at_old, at_new)

    def physical_name(
        self,
        path: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        at_old: KeyPath,
        at_new: KeyPath,
    ) -> None:
        if old.get("physicalName") != new.get("physicalName"):
            self.add(
                "physical-name-changed",
                path,
                f"physicalName of {path!r} changed from {_show(old.get('physicalName'))} to "
                f"{_show(new.get('physicalName'))}: readers and writers address it by name",
                ERROR,
                ERROR,
                at_new=(*at_new, "physicalName"),
            )

    def properties(
        self,
        path: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        at_old: KeyPath,
        at_new: KeyPath,
    ) -> None:
        olds, news = _named(old.get("properties")), _named(new.get("properties"))
        for name, (i, _prop) in olds.items():
            if name not in news:
                field = f"{path}.{name}"
                self.add(
                    "property-removed",
                    field,
                    f"property {field!r} was removed",
                    ERROR,
                    INFO,
                    at_old=(*at_old, "properties", i),
                )
        for name, (j, prop) in news.items():
            field = f"{path}.{name}"
            where = (*at_new, "properties", j)
            if name not in olds:
                required = bool(prop.get("required")) or bool(prop.get("primaryKey"))
                self.add(
                    "property-added-required" if required else "property-added",
                    field,
                    f"{'required ' if required else ''}property {field!r} was added"
                    + (": writers must now provide it" if required else ""),
                    INFO,
                    ERROR if required else INFO,
                    at_new=where,
                )
                continue
            i, before = olds[name]
            self.property(field, before, prop, (*at_old, "properties", i), where)

    def property(
        self,
        field: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        at_old: KeyPath,
        at_new: KeyPath,
    ) -> None:
        for key, rule, severity in (
            ("logicalType", "type-changed", ERROR),
            ("physicalType", "physical-type-changed", WARNING),
        ):
            if old.get(key) != new.get(key):
                self.add(
                    rule,
                    field,
                    f"{key} of {field!r} changed from {_show(old.get(key))} to "
                    f"{_show(new.get(key))}",
                    severity,
                    severity,
                    at_new=(*at_new, key),
                )
        self.physical_name(field, old, new, at_old, at_new)
        self.flag(field, "required", old, new, at_new, "required-removed", "required-added")
        self.flag(field, "unique", old, new, at_new, "unique-removed", "unique-added")
        self.flag(field, "primaryKey", old, new, at_new, "primary-key-removed", "primary-key-added")
        if old.get("primaryKeyPosition") != new.get("primaryKeyPosition") and (
            old.get("primaryKey") and new.get("primaryKey")
        ):
            self.add(
                "primary-key-position-changed",
                field,
                f"primaryKeyPosition of {field!r} changed from "
                f"{_show(old.get('primaryKeyPosition'))} to {_show(new.get('primaryKeyPosition'))}",
                WARNING,
                WARNING,
                at_new=(*at_new, "primaryKeyPosition"),
            )
        if old.get("classification") != new.get("classification"):
            self.add(
                "classification-changed",
                field,
                f"classification of {field!r} changed from {_show(old.get('classification'))} "
                f"to {_show(new.get('classification'))}",
                WARNING,
                WARNING,
                at_new=(*at_new, "classification"),
            )
        self.enum(field, old, new, at_new)
        self.options(field, old, new, at_old, at_new)
        self.quality(field, old, new, at_old, at_new)
        if old.get("properties") or new.get("properties"):
            self.properties(field, old, new, at_old, at_new)
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
            self.property(
                f"{field}[]", old_items, new_items, (*at_old, "items"), (*at_new, "items")
            )
        elif isinstance(old_items, Mapping) or isinstance(new_items, Mapping):
            self.add(
                "items-changed",
                f"{field}[]",
                f"the item definition of {field!r} was "
                + ("removed" if isinstance(old_items, Mapping) else "added"),
                ERROR,
                ERROR,
                at_new=(*at_new, "items") if isinstance(new_items, Mapping) else None,
                at_old=(*at_old, "items"),
            )

    def flag(
        self,
        field: str,
        key: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        at_new: KeyPath,
        removed_rule: str,
        added_rule: str,
    ) -> None:
        before, after = bool(old.get(key)), bool(new.get(key))
        if before == after:
            return
        where = (*at_new, key) if key in new else at_new
        if before:
            # A guarantee readers relied on is gone; writers are freer.
            self.add(
                removed_rule, field, f"{key} of {field!r} was dropped", ERROR, INFO, at_new=where
            )
        else:
            # Writers must now satisfy it; readers gain a guarantee.
            self.add(added_rule, field, f"{field!r} is now {key}", INFO, ERROR, at_new=where)

    def enum(
        self, field: str, old: Mapping[str, Any], new: Mapping[str, Any], at_new: KeyPath
    ) -> None:
        before, after = _enum_values(old), _enum_values(new)
        if [_canon(v) for v in before] == [_canon(v) for v in after]:
            return
        where = (*at_new, "enum") if "enum" in new else at_new
        if not before:
            self.add(
                "enum-added",
                field,
                f"{field!r} is now limited to {_show(after)}",
                INFO,
                ERROR,
                at_new=where,
            )
            return
        if not after:
            self.add(
                "enum-removed",
                field,
                f"{field!r} is no longer limited to an enum",
                ERROR,
                INFO,
                at_new=where,
            )
            return
        old_set = {_canon(v) for v in before}
        new_set = {_canon(v) for v in after}
        gone = [v for v in before if _canon(v) not in new_set]
        added = [v for v in after if _canon(v) not in old_set]
        if gone:
            self.add(
                "enum-values-removed",
                field,
                f"enum of {field!r} no longer allows {_show(gone)}",
                INFO,
                ERROR,
                at_new=where,
            )
        if added:
            self.add(
                "enum-values-added",
                field,
                f"enum of {field!r} now also allows {_show(added)}: readers may meet new values",
                ERROR,
                INFO,
                at_new=where,
            )

    def options(
        self,
        field: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        at_old: KeyPath,
        at_new: KeyPath,
    ) -> None:
        before = old.get("logicalTypeOptions") or {}
        after = new.get("logicalTypeOptions") or {}
        for key in sorted(set(before) | set(after)):
            a, b = before.get(key), after.get(key)
            if _canon(a) == _canon(b):
                continue
            where_new = (*at_new, "logicalTypeOptions", key)
            if key in after:
                where: KeyPath = where_new
            elif "logicalTypeOptions" in new:
                where = (*at_new, "logicalTypeOptions")
            else:
                where = at_new
            tightened = self._tightened(key, a, b)
            label = f"{key} of {field!r}"
            if tightened is None:
                self.add(
                    f"{_rule_name(key)}-changed",
                    field,
                    f"{label} changed from {_show(a)} to {_show(b)}; whether it allows more or "
                    "fewer values cannot be decided",
                    WARNING,
                    WARNING,
                    at_new=where,
                )
            elif tightened:
                self.add(
                    f"{_rule_name(key)}-tightened",
                    field,
                    f"{label} tightened: {_show(a) if a is not None else 'none'} -> {_show(b)}",
                    INFO,
                    ERROR,
                    at_new=where,
                )
            else:
                self.add(
                    f"{_rule_name(key)}-loosened",
                    field,
                    f"{label} loosened: {_show(a)} -> {_show(b) if b is not None else 'none'}",
                    ERROR,
                    INFO,
                    at_new=where,
                )

    @staticmethod
    def _tightened(key: str, before: Any, after: Any) -> bool | None:
        """True when NEW allows fewer values, False when more, None when undecidable."""
        if before is None:
            return True  # a new constraint
        if after is None:
            return False  # a constraint dropped
        if key in _UNDECIDABLE:
            return None
        comparable = (isinstance(before, int | float) and isinstance(after, int | float)) or (
            isinstance(before, str) and isinstance(after, str)
        )
        if key in _LOWER and comparable:
            return bool(after > before)
        if key in _UPPER and comparable:
            return bool(after < before)
        if key == "uniqueItems":
            return bool(after) and not bool(before)
        return None

    def quality(
        self,
        path: str,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        at_old: KeyPath,
        at_new: KeyPath,
    ) -> None:
        before = list(old.get("quality") or ())
        after = list(new.get("quality") or ())
        keyed_old = {_quality_key(q, i): (i, q) for i, q in enumerate(before)}
        keyed_new = {_quality_key(q, j): (j, q) for j, q in enumerate(after)}
        for key, (i, _) in keyed_old.items():
            if key not in keyed_new:
                self.add(
                    "quality-removed",
                    path,
                    f"quality rule {key} of {path!r} was removed",
                    WARNING,
                    INFO,
                    at_old=(*at_old, "quality", i),
                )
        for key, (j, rule) in keyed_new.items():
            if key not in keyed_old:
                self.add(
                    "quality-added",
                    path,
                    f"quality rule {key} was added to {path!r}",
                    INFO,
                    WARNING,
                    at_new=(*at_new, "quality", j),
                )
            elif _canon(keyed_old[key][1]) != _canon(rule):
                self.add(
                    "quality-changed",
                    path,
                    f"quality rule {key} of {path!r} changed",
                    WARNING,
                    WARNING,
                    at_new=(*at_new, "quality", j),
                )


def _quality_key(rule: Any, index: int) -> str:
    if isinstance(rule, Mapping) and rule.get("name"):
        return repr(str(rule["name"]))
    return f"#{index + 1}"


def _rule_name(option: str) -> str:
    """``exclusiveMinimum`` -> ``exclusive-minimum`` (rule ids are kebab-case)."""
    return "".join("-" + c.lower() if c.isupper() else c for c in option)
