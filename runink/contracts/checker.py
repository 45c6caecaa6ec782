"""Record validation: one contract schema object compiled once into a per-record checker.

:func:`compile_checker` walks the contract a single time and builds closures; checking
a record then runs only those closures, never looks at the contract again.

What a record must satisfy, per property:

* ``required`` (and ``primaryKey``, which implies it): present and not null. A null
  or missing optional property is fine and no other rule applies to it.
* ``logicalType``: ``string``; ``integer`` (an int, not a bool: ``1.0`` is not an
  integer); ``number`` (int, float or Decimal, not a bool; NaN and infinities are
  refused since no sink can store them faithfully); ``boolean``; ``date`` (``YYYY-MM-DD``
  or a ``datetime.date``); ``timestamp`` (ISO-8601 extended format with a ``Z`` or
  ``±HH:MM`` offset, ``T`` or space between date and time, seconds optional; or an
  aware ``datetime``; ``logicalTypeOptions.timezone: false`` also accepts no offset);
  ``time`` (``HH:MM[:SS[.f]]`` with an optional offset, or a ``datetime.time``);
  ``object``/``map`` (a mapping); ``array`` (a list or tuple); ``vector`` (an array of
  numbers). No logical type: any value.
* ``logicalTypeOptions``: strings: ``pattern`` (searched, as in JSON Schema),
  ``minLength``, ``maxLength``, ``format`` (``email``, ``uuid``, ``uri``, ``hostname``,
  ``ipv4``, ``ipv6`` are checked; other formats, e.g. ``password``, are descriptive);
  numbers: ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum``,
  ``multipleOf``, integer ``format`` (``i8`` ... ``u128`` ranges); dates, timestamps
  and times: the same four bounds, written as ISO strings; objects: ``required``,
  ``minProperties``, ``maxProperties``; arrays: ``minItems``, ``maxItems``,
  ``uniqueItems``; vectors: ``dimensions``.
* ``enum``: the value is one of the listed values (``True`` never matches ``1``).
* nested ``properties`` of objects and ``items`` of arrays, checked recursively;
  violations name the path (``address.city``, ``lines[2].sku``).
* ``unique`` and ``primaryKey`` (top-level properties): no two records accepted by
  this checker share the value (composite key: the tuple of the ``primaryKey``
  properties in ``primaryKeyPosition`` order). A key is remembered only when its
  record has no violation at all, so a rejected record does not block its corrected
  resend. Nulls are not values (as in SQL). The keys are held in memory for the
  checker's lifetime, i.e. one run of one slice.

Properties the contract does not declare are allowed: a contract states what a
consumer may rely on, not everything a producer may add (as ODCS and
datacontract-cli read it). ``Select`` is the step that narrows records.

Patterns use Python's backtracking ``re``; to bound the time a pathological pattern
can take, a string longer than :data:`MAX_PATTERN_INPUT` characters is not matched
at all and counts as a ``pattern`` violation (it goes to the DLQ with that reason,
rather than stalling the slice).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from runink.contracts.model import Contract, ContractProperty, SchemaObject
from runink.findings import Finding, RuninkError

#: Longest string a ``pattern`` is matched against, in characters.
MAX_PATTERN_INPUT = 8192
#: Longest excerpt of a value quoted in a violation message, in characters.
MAX_SHOWN = 60

LOGICAL_TYPES = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "timestamp",
    "time",
    "object",
    "map",
    "array",
    "vector",
)

_INT_FORMATS = {
    f"{sign}{bits}": (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if sign == "i" else (0, (1 << bits) - 1)
    )
    for sign in ("i", "u")
    for bits in (8, 16, 32, 64, 128)
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field path (``""`` for the record itself), the rule, and why."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def describe_violations(violations: Sequence[Violation]) -> str:
    """Every violation in one line, as a DLQ reason: ``a: ...; b: ...``."""
    return "; ".join(str(v) for v in violations)


class ContractCheckError(RuninkError):
    """The contract cannot be compiled into a checker (bad pattern, unknown schema...)."""


class RecordChecker:
    """Checks records against one schema object of one contract.

    Built by :func:`compile_checker`. Stateful only for ``unique``/``primaryKey``:
    one checker per run (per slice).
    """

    def __init__(
        self,
        contract_id: str,
        schema: str,
        check: Callable[[Mapping[str, Any]], list[Violation]],
        all_valid: Callable[[Sequence[Any]], bool] | None = None,
    ) -> None:
        self.contract_id = contract_id
        self.schema = schema
        self._check = check
        self._all_valid = all_valid

    def check(self, record: Mapping[str, Any]) -> list[Violation]:
        """Every violation of ``record``, in property order (uniqueness last); [] if valid."""
        return self._check(record)

    def all_valid(self, records: Sequence[Any]) -> bool:
        """True when every record is valid (their unique keys are then taken, as
        :meth:`check` would take them); False when some may not be: check those one by one.

        A batch-level fast path: each property is checked as a column with C-level
        builtins (types as a set, bounds as min/max, patterns via map), several times
        cheaper per record than :meth:`check` on the common all-valid batch.
        """
        if self._all_valid is None:
            return False
        return self._all_valid(records)


# A value checker: (value, its path, violations so far). Called only for non-null values.
ValueCheck = Callable[[Any, str, list[Violation]], None]
# A single rule on a value already of the right type: None, or what is wrong.
Test = Callable[[Any], str | None]


def compile_checker(contract: Contract, schema: str | None = None) -> RecordChecker:
    """Compile schema object ``schema`` of ``contract`` (its only one when None).

    Raises :class:`ContractCheckError` when the schema object does not exist, or is
    not named and the contract has several, or a rule cannot be compiled.
    """
    obj = _pick_schema(contract, schema)
    compiler = _Compiler(contract)
    fields = tuple(
        (prop.name, compiler.required_message(prop), compiler.value_check(prop))
        for prop in obj.properties
    )
    unique = compiler.unique_keys(obj)
    if compiler.findings:
        raise ContractCheckError(compiler.findings)
    check = _record_check(fields, unique)
    # Built only now: the options it reads were validated by the value checks above.
    columns = tuple(
        (prop.name, required is not None, _column_check(prop, value_check))
        for prop, (_, required, value_check) in zip(obj.properties, fields, strict=True)
    )
    return RecordChecker(contract.id, obj.name, check, _batch_check(columns, unique))


def _pick_schema(contract: Contract, schema: str | None) -> SchemaObject:
    names = [obj.name for obj in contract.schemas]
    if schema is None:
        if len(contract.schemas) == 1:
            return contract.schemas[0]
        problem = (
            f"contract {contract.id!r} has no schema object"
            if not names
            else f"contract {contract.id!r} has {len(names)} schema objects "
            f"({', '.join(names)}); name the one to check"
        )
        raise ContractCheckError([Finding("contract.checker", problem, contract.position)])
    for obj in contract.schemas:
        if obj.name == schema:
            return obj
    raise ContractCheckError(
        [
            Finding(
                "contract.checker",
                f"contract {contract.id!r} has no schema object {schema!r}",
                contract.position,
                hint=f"it has {', '.join(names)}" if names else "",
            )
        ]
    )


# (name, None when optional or a note for the required message, value check)
_Field = tuple[str, str | None, ValueCheck]
# (field label, rule, property names, sets of keys seen)
_Unique = tuple[str, str, tuple[str, ...], set[Any]]


def _record_check(
    fields: tuple[_Field, ...], unique: tuple[_Unique, ...]
) -> Callable[[Mapping[str, Any]], list[Violation]]:
    keys = tuple(_key_check(*spec) for spec in unique)

    # Typed Any: records come from decoded input, and a non-object is reported, not assumed.
    def check(record: Any) -> list[Violation]:
        if type(record) is not dict and not isinstance(record, Mapping):
            return [Violation("", "logicalType", f"expected an object, found {_show(record)}")]
        out: list[Violation] = []
        get = record.get
        for name, required, value_check in fields:
            value = get(name)
            if value is None:
                if required is not None:
                    out.append(_absent(record, name, name, required))
                continue
            value_check(value, name, out)
        if keys:
            pending: list[tuple[set[Any], Any]] = []
            for key_check in keys:
                key_check(record, out, pending)
            # Only an accepted record takes its keys: a rejected one may be resent, fixed.
            if not out:
                for seen, key in pending:
                    seen.add(key)
        return out

    return check


# ---------------------------------------------------------------- batches

# The non-null values of one property across a batch, and their set of types -> all valid?
ColumnTest = Callable[[Sequence[Any], set[type]], bool]
# (name, required, column test)
_Column = tuple[str, bool, ColumnTest]
_NONE = type(None)


def _batch_check(
    columns: tuple[_Column, ...], unique: tuple[_Unique, ...]
) -> Callable[[Sequence[Any]], bool]:
    names = tuple(name for name, _, _ in columns)
    # One C call per record takes every property at once; a missing key (an optional
    # property left out) falls back to one dict.get pass per property.
    row = itemgetter(*names) if len(names) > 1 else None
    single_keys = {label: names.index(n[0]) for label, _, n, _ in unique if len(n) == 1}

    def valid(records: Sequence[Any]) -> bool:
        if not records:
            return True
        if set(map(type, records)) != {dict}:
            return False  # non-objects (or mappings of other types): record by record
        table: list[Sequence[Any]]
        if row is None:
            table = [list(map(dict.get, records, repeat(n))) for n in names]
        else:
            try:
                table = list(zip(*map(row, records), strict=True))
            except KeyError:
                table = [list(map(dict.get, records, repeat(n))) for n in names]
        present: list[Sequence[Any]] = []
        for (_, required, test), column in zip(columns, table, strict=True):
            types = set(map(type, column))
            if _NONE in types:
                if required:
                    return False
                types.discard(_NONE)
                column = [v for v in column if v is not None]
            if column and not test(column, types):
                return False
            present.append(column)
        taken: list[tuple[set[Any], list[Any]]] = []
        for label, _, key_names, seen in unique:
            at = single_keys.get(label)
            if at is not None:
                values = present[at]
                keys = list(map(_unique_key, values))
            else:
                rows = (tuple(r.get(n) for n in key_names) for r in records)
                keys = [value_key(v) for v in rows if None not in v]
            if len(set(keys)) != len(keys) or not seen.isdisjoint(keys):
                return False  # a duplicate: check() names it
            taken.append((seen, keys))
        for seen, keys in taken:
            seen.update(keys)
        return True

    return valid


def _unique_key(value: Any) -> Any:
    return value if type(value) is str else value_key(value)


def _column_check(prop: ContractProperty, value_check: ValueCheck) -> ColumnTest:
    """A column test for ``prop``: C-level builtins for the common logical types and
    rules; any other property is checked value by value with ``value_check``."""
    name = prop.name

    def each(column: Sequence[Any], types: set[type]) -> bool:
        out: list[Violation] = []
        for value in column:
            value_check(value, name, out)
            if out:
                return False
        return True

    if value_check is _accept:
        return lambda column, types: True
    if prop.properties or prop.items is not None:
        return each
    options = prop.options
    logical = prop.logical_type
    if logical == "string":
        return _string_column(options, prop.enum, each)
    if logical in ("integer", "number"):
        return _number_column(logical, options, prop.enum, each)
    if logical == "boolean" and not prop.enum:
        return lambda column, types: types == {bool} or each(column, types)
    return each


def _string_column(
    options: Mapping[str, Any], enum: tuple[Any, ...], each: ColumnTest
) -> ColumnTest:
    fmt = options.get("format")
    if isinstance(fmt, str) and fmt.lower() in _STRING_FORMATS:
        return each
    low, high = options.get("minLength"), options.get("maxLength")
    pattern = options.get("pattern")
    search = re.compile(pattern, re.ASCII).search if pattern is not None else None
    if search is not None:
        high = MAX_PATTERN_INPUT if high is None else min(int(high), MAX_PATTERN_INPUT)
    strings = frozenset(v for v in enum if type(v) is str) if enum else None

    def test(column: Sequence[Any], types: set[type]) -> bool:
        if types != {str}:
            return each(column, types)
        if low is not None or high is not None:
            lengths = list(map(len, column))
            if low is not None and min(lengths) < low:
                return False
            if high is not None and max(lengths) > high:
                return False
        if search is not None and not all(map(search, column)):
            return False
        return strings is None or strings.issuperset(column)

    return test


def _number_column(
    logical: str, options: Mapping[str, Any], enum: tuple[Any, ...], each: ColumnTest
) -> ColumnTest:
    if enum or options.get("multipleOf") is not None:
        return each
    allowed = {int} if logical == "integer" else {int, float}
    lows = [(options.get(k), k == "exclusiveMinimum") for k in ("minimum", "exclusiveMinimum")]
    highs = [(options.get(k), k == "exclusiveMaximum") for k in ("maximum", "exclusiveMaximum")]
    fmt = options.get("format")
    if logical == "integer" and isinstance(fmt, str):
        low, high = _INT_FORMATS[fmt]
        lows.append((low, False))
        highs.append((high, False))
    low_bounds = [(b, x) for b, x in lows if b is not None]
    high_bounds = [(b, x) for b, x in highs if b is not None]

    def test(column: Sequence[Any], types: set[type]) -> bool:
        if not types <= allowed:
            return each(column, types)  # bools, Decimals...: the value checks decide
        if float in types and not all(map(math.isfinite, column)):
            return False
        if low_bounds:
            least = min(column)
            for bound, exclusive in low_bounds:
                if least < bound or (exclusive and least == bound):
                    return False
        if high_bounds:
            most = max(column)
            for bound, exclusive in high_bounds:
                if most > bound or (exclusive and most == bound):
                    return False
        return True

    return test


KeyCheck = Callable[[Mapping[str, Any], list[Violation], list[tuple[set[Any], Any]]], None]


def _key_check(label: str, rule: str, names: tuple[str, ...], seen: set[Any]) -> KeyCheck:
    what = "primary key" if rule == "primaryKey" else "value"

    def duplicate(values: tuple[Any, ...]) -> Violation:
        shown = ", ".join(_show(v) for v in values)
        return Violation(label, rule, f"duplicate {what} {shown}: already seen in this run")

    if len(names) == 1:
        name = names[0]

        def single(
            record: Mapping[str, Any], out: list[Violation], pending: list[tuple[set[Any], Any]]
        ) -> None:
            value = record.get(name)
            if value is None:
                return  # reported as required (primary key), or not a value (unique)
            key = value if type(value) is str else value_key(value)
            if key in seen:
                out.append(duplicate((value,)))
            else:
                pending.append((seen, key))

        return single

    def composite(
        record: Mapping[str, Any], out: list[Violation], pending: list[tuple[set[Any], Any]]
    ) -> None:
        values = tuple(record.get(n) for n in names)
        if None in values:
            return
        key = value_key(values)
        if key in seen:
            out.append(duplicate(values))
        else:
            pending.append((seen, key))

    return composite


def _absent(record: Mapping[str, Any], name: str, path: str, note: str) -> Violation:
    return Violation(
        path, "required", f"is required but {'null' if name in record else 'missing'}{note}"
    )


class _Compiler:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.findings: list[Finding] = []

    def error(self, prop: ContractProperty, message: str, hint: str = "") -> None:
        self.findings.append(Finding("contract.checker", message, prop.position, hint=hint))

    def required_message(self, prop: ContractProperty) -> str | None:
        if prop.primary_key:
            return " (primary key)"
        return "" if prop.required else None

    def unique_keys(self, obj: SchemaObject) -> tuple[_Unique, ...]:
        keys: list[_Unique] = []
        # Declared order breaks ties; a key without a position comes after those with one.
        ordered = sorted(
            (p for p in obj.properties if p.primary_key),
            key=lambda p: (
                p.primary_key_position
                if p.primary_key_position is not None and p.primary_key_position > 0
                else 1 << 30
            ),
        )
        pk_names = tuple(p.name for p in ordered)
        if pk_names:
            label = pk_names[0] if len(pk_names) == 1 else f"({', '.join(pk_names)})"
            keys.append((label, "primaryKey", pk_names, set()))
        for prop in obj.properties:
            if prop.unique and (prop.name,) != pk_names:
                keys.append((prop.name, "unique", (prop.name,), set()))
        return tuple(keys)

    def value_check(self, prop: ContractProperty) -> ValueCheck:
        logical = prop.logical_type
        if logical is not None and logical not in LOGICAL_TYPES:
            self.error(
                prop,
                f"property {prop.name!r}: unknown logicalType {logical!r}",
                f"use one of {', '.join(LOGICAL_TYPES)}",
            )
            return _accept
        options = dict(prop.options)
        if logical in ("date", "timestamp", "time"):
            return self.temporal(prop, logical, options)
        kind, type_test = _TYPE_TESTS.get(logical or "", (None, None))
        tests: list[tuple[str, Test]] = []
        tests.extend(self.option_tests(prop, logical, options))
        if prop.enum:
            tests.append(("enum", _enum_test(prop.enum)))
        nested: ValueCheck | None = None
        if prop.properties and logical in (None, "object", "map"):
            nested = self.object_check(prop)
        elif prop.items is not None and logical in (None, "array"):
            nested = self.items_check(prop.items)
        return _value_check(kind, type_test, tuple(tests), nested, _EXACT.get(logical or ""))

    def object_check(self, prop: ContractProperty) -> ValueCheck:
        fields = tuple(
            (p.name, self.required_message(p), self.value_check(p)) for p in prop.properties
        )

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if not isinstance(value, Mapping):
                return  # the type rule has said so, or the property has no type
            get = value.get
            for name, required, value_check in fields:
                child = get(name)
                if child is None:
                    if required is not None:
                        out.append(_absent(value, name, f"{path}.{name}", required))
                    continue
                value_check(child, f"{path}.{name}", out)

        return check

    def items_check(self, items: ContractProperty) -> ValueCheck:
        item_check = self.value_check(items)
        required = items.required

        def check(value: Any, path: str, out: list[Violation]) -> None:
            if not isinstance(value, list | tuple):
                return
            for i, item in enumerate(value):
                if item is None:
                    if required:
                        out.append(Violation(f"{path}[{i}]", "required", "is required but null"))
                    continue
                item_check(item, f"{path}[{i}]", out)

        return check

    def number_option(self, prop: ContractProperty, options: Mapping[str, Any], key: str) -> Any:
        value = options.get(key)
        if value is None:
            return None
        if not _is_number(value):
            self.error(prop, f"property {prop.name!r}: {key} must be a number, found {value!r}")
            return None
        return value

    def int_option(
        self, prop: ContractProperty, options: Mapping[str, Any], key: str
    ) -> int | None:
        value = options.get(key)
        if value is None:
            return None
        if not _is_int(value) or value < 0:
            self.error(
                prop, f"property {prop.name!r}: {key} must be a whole number >= 0, found {value!r}"
            )
            return None
        return int(value)

    def option_tests(
        self, prop: ContractProperty, logical: str | None, options: Mapping[str, Any]
    ) -> list[tuple[str, Test]]:
        tests: list[tuple[str, Test]] = []
        if logical in (None, "string"):
            tests.extend(self.string_tests(prop, options, guard=logical is None))
        if logical in (None, "integer", "number"):
            tests.extend(self.number_tests(prop, logical, options, guard=logical is None))
        if logical in (None, "object", "map"):
            tests.extend(self.object_tests(prop, options, guard=logical is None))
        if logical in (None, "array"):
            tests.extend(self.array_tests(prop, options, guard=logical is None))
        if logical == "vector":
            dimensions = self.int_option(prop, options, "dimensions")
            if dimensions is not None:
                tests.append(("dimensions", _length_test(dimensions, dimensions, "items")))
        return tests

    def string_tests(
        self, prop: ContractProperty, options: Mapping[str, Any], *, guard: bool
    ) -> list[tuple[str, Test]]:
        tests: list[tuple[str, Test]] = []
        low = self.int_option(prop, options, "minLength")
        if low is not None:
            tests.append(("minLength", _min_length(low)))
        high = self.int_option(prop, options, "maxLength")
        if high is not None:
            tests.append(("maxLength", _max_length(high)))
        pattern = options.get("pattern")
        if pattern is not None:
            test = self.pattern_test(prop, pattern)
            if test is not None:
                tests.append(("pattern", test))
        fmt = options.get("format")
        if isinstance(fmt, str) and fmt.lower() in _STRING_FORMATS:
            tests.append(("format", _format_test(fmt.lower())))
        return [(rule, _only(str, t)) for rule, t in tests] if guard else tests

    def pattern_test(self, prop: ContractProperty, pattern: Any) -> Test | None:
        if not isinstance(pattern, str):
            self.error(prop, f"property {prop.name!r}: pattern must be a string")
            return None
        try:
            # ASCII: \\d and \\w mean what they mean in ECMA-262, which ODCS patterns follow.
            search = re.compile(pattern, re.ASCII).search
        except re.error as err:
            self.error(prop, f"property {prop.name!r}: invalid pattern {pattern!r}: {err}")
            return None

        def test(value: str) -> str | None:
            if len(value) > MAX_PATTERN_INPUT:
                return (
                    f"is {len(value)} characters long; patterns are checked on at most "
                    f"{MAX_PATTERN_INPUT}"
                )
            if search(value) is None:
                return f"{_show(value)} does not match the pattern {pattern}"
            return None

        return test

    def number_tests(
        self,
        prop: ContractProperty,
        logical: str | None,
        options: Mapping[str, Any],
        *,
        guard: bool,
    ) -> list[tuple[str, Test]]:
        tests: list[tuple[str, Test]] = []
        for key, word in (
            ("minimum", "less than the minimum"),
            ("exclusiveMinimum", "not greater than the exclusive minimum"),
            ("maximum", "greater than the maximum"),
            ("exclusiveMaximum", "not less than the exclusive maximum"),
        ):
            bound = self.number_option(prop, options, key)
            if bound is not None:
                tests.append((key, _bound_test(bound, key, word)))
        step = self.number_option(prop, options, "multipleOf")
        if step is not None:
            if step <= 0:
                self.error(prop, f"property {prop.name!r}: multipleOf must be greater than 0")
            else:
                tests.append(("multipleOf", _multiple_test(step)))
        fmt = options.get("format")
        if logical == "integer" and isinstance(fmt, str):
            limits = _INT_FORMATS.get(fmt)
            if limits is None:
                self.error(
                    prop,
                    f"property {prop.name!r}: unknown integer format {fmt!r}",
                    f"use one of {', '.join(_INT_FORMATS)}",
                )
            else:
                tests.append(("format", _int_range_test(fmt, *limits)))
        return [(rule, _only_number(t)) for rule, t in tests] if guard else tests

    def object_tests(
        self, prop: ContractProperty, options: Mapping[str, Any], *, guard: bool
    ) -> list[tuple[str, Test]]:
        tests: list[tuple[str, Test]] = []
        low = self.int_option(prop, options, "minProperties")
        high = self.int_option(prop, options, "maxProperties")
        if low is not None or high is not None:
            tests.append(("properties", _length_test(low, high, "properties")))
        names = options.get("required")
        if isinstance(names, list) and names:
            keys = tuple(str(n) for n in names)

            def has_required(value: Mapping[str, Any]) -> str | None:
                missing = [k for k in keys if value.get(k) is None]
                return f"lacks required keys {', '.join(missing)}" if missing else None

            tests.append(("required", has_required))
        return [(rule, _only(Mapping, t)) for rule, t in tests] if guard else tests

    def array_tests(
        self, prop: ContractProperty, options: Mapping[str, Any], *, guard: bool
    ) -> list[tuple[str, Test]]:
        tests: list[tuple[str, Test]] = []
        low = self.int_option(prop, options, "minItems")
        high = self.int_option(prop, options, "maxItems")
        if low is not None or high is not None:
            tests.append(("items", _length_test(low, high, "items")))
        if options.get("uniqueItems") is True:
            tests.append(("uniqueItems", _unique_items))
        return [(rule, _only((list, tuple), t)) for rule, t in tests] if guard else tests

    def temporal(
        self, prop: ContractProperty, logical: str, options: Mapping[str, Any]
    ) -> ValueCheck:
        naive_ok = logical != "timestamp" or options.get("timezone") is False
        parse = _PARSERS[logical](naive_ok)
        expected = _TEMPORAL_NAMES[logical]
        if logical == "timestamp" and naive_ok:
            expected = "a timestamp (ISO-8601)"
        bounds: list[tuple[str, Any, str]] = []
        for key, word in (
            ("minimum", "before the minimum"),
            ("exclusiveMinimum", "not after the exclusive minimum"),
            ("maximum", "after the maximum"),
            ("exclusiveMaximum", "not before the exclusive maximum"),
        ):
            raw = options.get(key)
            if raw is None:
                continue
            bound = _PARSERS[logical](True)(raw)
            if bound is None:
                self.error(
                    prop, f"property {prop.name!r}: {key} {raw!r} is not {_TEMPORAL_NAMES[logical]}"
                )
                continue
            bounds.append((key, _utc(bound), word))
        enum = _enum_test(prop.enum) if prop.enum else None

        def check(value: Any, path: str, out: list[Violation]) -> None:
            parsed = parse(value)
            if parsed is None:
                out.append(
                    Violation(path, "logicalType", f"expected {expected}, found {_show(value)}")
                )
                return
            if bounds:
                moment = _utc(parsed)
                for key, bound, word in bounds:
                    if not _within(moment, bound, key):
                        out.append(
                            Violation(path, key, f"{_show(value)} is {word} {_plain(bound)}")
                        )
            if enum is not None:
                message = enum(value)
                if message is not None:
                    out.append(Violation(path, "enum", message))

        return check


def _accept(value: Any, path: str, out: list[Violation]) -> None:
    return None


def _value_check(
    kind: str | None,
    type_test: Callable[[Any], bool] | None,
    tests: tuple[tuple[str, Test], ...],
    nested: ValueCheck | None,
    exact: type | None = None,
) -> ValueCheck:
    if type_test is None:
        if not tests and nested is None:
            return _accept

        def untyped(value: Any, path: str, out: list[Violation]) -> None:
            for rule, test in tests:
                message = test(value)
                if message is not None:
                    out.append(Violation(path, rule, message))
            if nested is not None:
                nested(value, path, out)

        return untyped

    expected = f"expected {kind}"

    if not tests and nested is None:

        def typed_only(value: Any, path: str, out: list[Violation]) -> None:
            if type(value) is not exact and not type_test(value):
                out.append(Violation(path, "logicalType", f"{expected}, found {_show(value)}"))

        return typed_only

    if len(tests) == 1 and nested is None:
        rule, test = tests[0]

        def typed_one(value: Any, path: str, out: list[Violation]) -> None:
            if type(value) is not exact and not type_test(value):
                out.append(Violation(path, "logicalType", f"{expected}, found {_show(value)}"))
                return
            message = test(value)
            if message is not None:
                out.append(Violation(path, rule, message))

        return typed_one

    def typed(value: Any, path: str, out: list[Violation]) -> None:
        if type(value) is not exact and not type_test(value):
            out.append(Violation(path, "logicalType", f"{expected}, found {_show(value)}"))
            return
        for rule, test in tests:
            message = test(value)
            if message is not None:
                out.append(Violation(path, rule, message))
        if nested is not None:
            nested(value, path, out)

    return typed


# ---------------------------------------------------------------- types


def _is_int(value: Any) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return True
    if kind is float:
        return math.isfinite(value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return False


def _is_vector(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(_is_number(v) for v in value)


_TYPE_TESTS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "integer": ("an integer", _is_int),
    "number": ("a number", _is_number),
    "boolean": ("a boolean", lambda v: isinstance(v, bool)),
    "object": ("an object", lambda v: isinstance(v, Mapping)),
    "map": ("an object", lambda v: isinstance(v, Mapping)),
    "array": ("an array", lambda v: isinstance(v, list | tuple)),
    "vector": ("an array of numbers", _is_vector),
}

# Values of these exact types pass the type rule without a call: the common case is cheap.
_EXACT: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": int,
    "boolean": bool,
    "object": dict,
    "map": dict,
    "array": list,
}

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
_OFFSET = r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
_TIMESTAMP_TZ = re.compile(rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[Tt ]{_TIME}{_OFFSET}")
_TIMESTAMP_ANY = re.compile(rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[Tt ]{_TIME}{_OFFSET}?")
_TIME_RE = re.compile(rf"{_TIME}{_OFFSET}?")

_TEMPORAL_NAMES = {
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a timestamp (ISO-8601 with a Z or ±HH:MM offset)",
    "time": "a time (HH:MM[:SS])",
}


def _fraction_cut(text: str) -> str:
    # fromisoformat keeps microseconds: cut nanosecond digits the regex allowed.
    dot = text.find(".")
    if dot < 0:
        return text
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    return text[: min(end, dot + 7)] + text[end:]


def _parse_date(naive_ok: bool) -> Callable[[Any], date | None]:
    def parse(value: Any) -> date | None:
        if isinstance(value, str):
            if len(value) != 10 or _DATE.fullmatch(value) is None:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        return None

    return parse


def _parse_timestamp(naive_ok: bool) -> Callable[[Any], datetime | None]:
    shape = _TIMESTAMP_ANY if naive_ok else _TIMESTAMP_TZ

    def parse(value: Any) -> datetime | None:
        if isinstance(value, str):
            if len(value) > 64 or shape.fullmatch(value) is None:
                return None
            text = value
            if "." in text or "t" in text or text[-1] == "z":
                text = _fraction_cut(text).replace("t", "T").replace("z", "Z")
            try:
                return datetime.fromisoformat(text)
            except ValueError:
                return None
        if isinstance(value, datetime) and (naive_ok or value.tzinfo is not None):
            return value
        return None

    return parse


def _parse_time(naive_ok: bool) -> Callable[[Any], time | None]:
    def parse(value: Any) -> time | None:
        if isinstance(value, str):
            if len(value) > 32 or _TIME_RE.fullmatch(value) is None:
                return None
            text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
            try:
                return time.fromisoformat(_fraction_cut(text))
            except ValueError:
                return None
        if isinstance(value, time):
            return value
        return None

    return parse


_PARSERS: dict[str, Callable[[bool], Callable[[Any], Any]]] = {
    "date": _parse_date,
    "timestamp": _parse_timestamp,
    "time": _parse_time,
}


def _utc(value: Any) -> Any:
    """Comparable form: naive timestamps are UTC (as everywhere in Runink)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if isinstance(value, time):
        # Times compare on the clock face; an offset is dropped, not converted.
        return value.replace(tzinfo=None)
    return value


def _within(moment: Any, bound: Any, key: str) -> bool:
    if key == "minimum":
        return bool(moment >= bound)
    if key == "exclusiveMinimum":
        return bool(moment > bound)
    if key == "maximum":
        return bool(moment <= bound)
    return bool(moment < bound)


def _plain(value: Any) -> str:
    return value.isoformat() if isinstance(value, date | time) else str(value)


# ---------------------------------------------------------------- option tests


def _only(kind: type | tuple[type, ...], test: Test) -> Test:
    def guarded(value: Any) -> str | None:
        return test(value) if isinstance(value, kind) else None

    return guarded


def _only_number(test: Test) -> Test:
    def guarded(value: Any) -> str | None:
        return test(value) if _is_number(value) else None

    return guarded


def _min_length(low: int) -> Test:
    def test(value: str) -> str | None:
        if len(value) < low:
            return f"{_show(value)} is shorter than the minimum length {low}"
        return None

    return test


def _max_length(high: int) -> Test:
    def test(value: str) -> str | None:
        if len(value) > high:
            return f"{_show(value)} is longer than the maximum length {high}"
        return None

    return test


def _length_test(low: int | None, high: int | None, what: str) -> Test:
    def test(value: Any) -> str | None:
        n = len(value)
        if low is not None and n < low:
            return f"has {n} {what}, fewer than the minimum {low}"
        if high is not None and n > high:
            return f"has {n} {what}, more than the maximum {high}"
        return None

    return test


def _bound_test(bound: Any, key: str, word: str) -> Test:
    shown = _show(bound)
    if key == "minimum":

        def test(value: Any) -> str | None:
            return None if value >= bound else f"{_show(value)} is {word} {shown}"

    elif key == "exclusiveMinimum":

        def test(value: Any) -> str | None:
            return None if value > bound else f"{_show(value)} is {word} {shown}"

    elif key == "maximum":

        def test(value: Any) -> str | None:
            return None if value <= bound else f"{_show(value)} is {word} {shown}"

    else:

        def test(value: Any) -> str | None:
            return None if value < bound else f"{_show(value)} is {word} {shown}"

    return test


def _multiple_test(step: Any) -> Test:
    def test(value: Any) -> str | None:
        if _is_int(value) and _is_int(step):
            ok = value % step == 0
        else:
            quotient = float(value) / float(step)
            ok = math.isfinite(quotient) and abs(quotient - round(quotient)) <= 1e-9 * max(
                1.0, abs(quotient)
            )
        return None if ok else f"{_show(value)} is not a multiple of {_show(step)}"

    return test


def _int_range_test(fmt: str, low: int, high: int) -> Test:
    def test(value: int) -> str | None:
        if low <= value <= high:
            return None
        return f"{_show(value)} does not fit {fmt} ({low} to {high})"

    return test


def _unique_items(value: Sequence[Any]) -> str | None:
    seen: set[Any] = set()
    for i, item in enumerate(value):
        key = value_key(item)
        if key in seen:
            return f"item {i} repeats an earlier item"
        seen.add(key)
    return None


def _enum_test(values: tuple[Any, ...]) -> Test:
    allowed = frozenset(value_key(v) for v in values)
    strings = frozenset(v for v in values if type(v) is str)
    listing = ", ".join(_plain_value(v) for v in values)

    def test(value: Any) -> str | None:
        if type(value) is str:
            if value in strings:
                return None
        elif value_key(value) in allowed:
            return None
        return f"{_show(value)} is not one of {listing}"

    return test


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]*")
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def _ip(version: int) -> Callable[[str], bool]:
    def valid(value: str) -> bool:
        if len(value) > 64:
            return False
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return address.version == version

    return valid


_STRING_FORMATS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "email": ("an email address", lambda v: len(v) <= 254 and _EMAIL.fullmatch(v) is not None),
    "uuid": ("a UUID", lambda v: len(v) == 36 and _UUID.fullmatch(v) is not None),
    "uri": ("a URI", lambda v: len(v) <= MAX_PATTERN_INPUT and _URI.fullmatch(v) is not None),
    "hostname": ("a hostname", lambda v: len(v) <= 254 and _HOSTNAME.fullmatch(v) is not None),
    "ipv4": ("an IPv4 address", _ip(4)),
    "ipv6": ("an IPv6 address", _ip(6)),
}


def _format_test(fmt: str) -> Test:
    what, valid = _STRING_FORMATS[fmt]

    def test(value: str) -> str | None:
        return None if valid(value) else f"{_show(value)} is not {what}"

    return test


# ---------------------------------------------------------------- values


def value_key(value: Any) -> Any:
    """A hashable key under which equal JSON values meet and ``True`` never meets ``1``."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return ("bool", value)
    if kind is int or kind is float:
        return ("num", value)
    if isinstance(value, tuple):
        return tuple(value_key(v) for v in value)
    if isinstance(value, bool):
        return ("bool", bool(value))
    if isinstance(value, int | float | Decimal):
        return ("num", value)
    if isinstance(value, str):
        return str(value)
    if value is None:
        return ("null",)
    try:
        return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str))
    except TypeError:
        return ("repr", repr(value))


def _plain_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return _show(value)


def _show(value: Any) -> str:
    """A short, unambiguous rendering of a value for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if len(value) > MAX_SHOWN:
            return f"{value[:MAX_SHOWN]!r}... ({len(value)} characters)"
        return repr(value)
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return f"a {type(value).__name__}"
