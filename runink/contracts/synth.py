"""Synthetic records from a contract: test data that satisfies it, or breaks it on purpose.

:func:`synthesize` makes ``count`` records for one schema object of a contract. Every
valid record passes :func:`runink.contracts.checker.compile_checker` (the authority on
what satisfying a contract means): each value is generated for its rules (type,
``enum``, ``pattern``, lengths, formats, bounds, nested objects and arrays) and then
checked against that property alone, and each record is checked once more as a
whole by a checker that has seen every record before it, so ``unique`` and
``primaryKey`` hold over the whole output.

With ``invalid_ratio`` R, exactly ``round(count * R)`` records, at random positions,
each break exactly one rule: a missing required property, a value of the wrong type,
a string that does not match its pattern, a value out of range, a value not in the
enum, or a duplicate key (of an earlier valid record).

Output depends on the seed and the Faker and rstr versions only: one
``random.Random`` (Faker's, seeded per call) drives every choice; no global random
state, no clock.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain
from random import Random
from typing import Any

from faker import Faker
from rstr.xeger import Xeger

from runink.contracts.checker import (
    LOGICAL_TYPES,
    RecordChecker,
    Violation,
    compile_checker,
    value_key,
)
from runink.contracts.model import Contract, ContractProperty, SchemaObject
from runink.findings import Finding, RuninkError

#: The kinds of rule an invalid record can break, as ``--invalid-ratio`` explains them.
INVALID_KINDS = ("required", "logicalType", "pattern", "range", "enum", "duplicate")

# Attempts at one value before giving up: constraints are checked after generation.
_VALUE_ATTEMPTS = 200
# Attempts at a fresh key before deciding the contract allows too few distinct values.
_KEY_ATTEMPTS = 2000
# Attempts at a whole record (the cross-record check can still refuse one).
_RECORD_ATTEMPTS = 50
# A property that is neither required nor a key is left out of this share of records.
_OMIT_OPTIONAL = 0.1

# Without bounds, values come from fixed windows: output must not depend on today.
_DATE_WINDOW = (date(2020, 1, 1), date(2025, 12, 31))
_TIMESTAMP_WINDOW = (
    int(datetime(2020, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) - 1,
)
_BOUND_KEYS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
_LETTERS = string.ascii_lowercase

_WRONG_TYPE: dict[str, tuple[Any, ...]] = {
    "string": (42, True),
    "integer": ("42", 4.5),
    "number": ("4.5", True),
    "boolean": ("true", 1),
    "date": ("not a date", 20240131),
    "timestamp": ("yesterday", 1700000000),
    "time": ("noon", 1200),
    "object": ("{}", [1]),
    "map": ("{}", [1]),
    "array": ("[]", {"item": 1}),
    "vector": ("1,2", ["a"]),
}

# Faker providers for string properties without a pattern, enum or format, by name.
_NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("email", "email"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("company", "company"),
    ("name", "name"),
    ("phone", "phone_number"),
    ("street", "street_address"),
    ("address", "street_address"),
    ("city", "city"),
    ("country", "country"),
    ("currency", "currency_code"),
    ("url", "url"),
    ("description", "sentence"),
    ("comment", "sentence"),
    ("note", "sentence"),
)


@dataclass(frozen=True)
class Synthetic:
    """One generated record, and the rule it breaks (``None`` when it is valid)."""

    record: dict[str, Any]
    rule: str | None = None
    field: str | None = None
    message: str | None = None

    @property
    def valid(self) -> bool:
        return self.rule is None


class SynthError(RuninkError):
    """The contract allows no records of the kind asked for (e.g. a pattern rstr cannot
    generate, too few distinct values for a unique property)."""


def synthesize(
    contract: Contract,
    count: int,
    seed: int,
    *,
    invalid_ratio: float = 0.0,
    schema: str | None = None,
) -> Iterator[dict[str, Any]]:
    """``count`` records for schema object ``schema`` of ``contract`` (its only one when None).

    The same arguments give the same records. Raises :class:`SynthError` (a
    :class:`RuninkError`) at once when the contract cannot be synthesized, or while
    iterating when it runs out of distinct values for a key; ``ValueError`` for a
    negative count or a ratio outside 0..1.
    """
    return (
        s.record
        for s in generate(contract, count, seed, invalid_ratio=invalid_ratio, schema=schema)
    )


def generate(
    contract: Contract,
    count: int,
    seed: int,
    *,
    invalid_ratio: float = 0.0,
    schema: str | None = None,
) -> Iterator[Synthetic]:
    """As :func:`synthesize`, with each record's broken rule (for a summary)."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0.0 <= invalid_ratio <= 1.0:
        raise ValueError(f"invalid_ratio must be between 0 and 1, got {invalid_ratio}")
    synth = _Synthesizer(contract, schema, seed, count)
    invalid = round(count * invalid_ratio)
    if invalid and not synth.kinds:
        raise _error(
            contract,
            None,
            f"contract {contract.id!r}: no property has a rule a record could break",
            "invalid records need a required, typed, patterned, bounded, enum or key property",
        )
    positions = frozenset(synth.rng.sample(range(count), invalid))
    return synth.run(count, positions)


def _error(
    contract: Contract, prop: ContractProperty | None, message: str, hint: str
) -> SynthError:
    position = prop.position if prop is not None else contract.position
    return SynthError([Finding("contract.synth", message, position, hint=hint)])


class _Xeger(Xeger):
    """rstr's generator with every character set in a fixed order.

    rstr builds negated classes (``[^a]``) and some alphabets from Python sets, whose
    order changes with ``PYTHONHASHSEED``: the same seed must give the same bytes in
    every process.
    """

    def __init__(self, rng: Random) -> None:
        super().__init__(
            rng,
            nonword="".join(
                sorted(set(string.printable) - set(string.ascii_letters + string.digits + "_"))
            ),
            unambiguous="".join(sorted(set(string.ascii_letters + string.digits) - set("0O1lI"))),
        )

    def _handle_in(self, value: Any) -> Any:
        candidates = list(chain(*(self._handle_state(i) for i in value)))
        if candidates and candidates[0] is False:
            candidates = sorted(set(string.printable).difference(candidates[1:]))
        return self._random.choice(candidates)


@dataclass(frozen=True)
class _KeyGroup:
    """Properties whose values (together) must not repeat: the primary key, or a unique one."""

    rule: str
    names: tuple[str, ...]


class _Synthesizer:
    def __init__(self, contract: Contract, schema: str | None, seed: int, count: int) -> None:
        self.contract = contract
        # Raises ContractCheckError (a RuninkError) for a missing schema or a broken rule.
        self.shadow = compile_checker(contract, schema)
        self.obj = next(o for o in contract.schemas if o.name == self.shadow.schema)
        if not self.obj.properties:
            raise _error(
                contract,
                None,
                f"contract {contract.id!r}: schema object {self.obj.name!r} has no properties",
                "declare the properties under schema[].properties to synthesize records",
            )
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rng: Random = self.fake.random
        self.xeger = _Xeger(self.rng)
        self.count = count
        self.made = 0
        self._checkers: dict[int, RecordChecker] = {}
        self.groups = self._key_groups(self.obj)
        self.key_names = frozenset(chain.from_iterable(g.names for g in self.groups))
        self.seen: dict[_KeyGroup, set[Any]] = {g: set() for g in self.groups}
        # Keys of emitted valid records, in order: what a duplicate may copy.
        self.history: dict[_KeyGroup, list[tuple[Any, ...]]] = {g: [] for g in self.groups}
        self._probe(self.obj.properties)
        self.kinds = self._invalid_kinds()

    # ------------------------------------------------------------ setup

    @staticmethod
    def _key_groups(obj: SchemaObject) -> tuple[_KeyGroup, ...]:
        # The same grouping and order as the checker's: primaryKeyPosition, then declared.
        ordered = sorted(
            (p for p in obj.properties if p.primary_key),
            key=lambda p: (
                p.primary_key_position
                if p.primary_key_position is not None and p.primary_key_position > 0
                else 1 << 30
            ),
        )
        pk = tuple(p.name for p in ordered)
        groups = [_KeyGroup("primaryKey", pk)] if pk else []
        groups.extend(
            _KeyGroup("unique", (p.name,)) for p in obj.properties if p.unique and (p.name,) != pk
        )
        return tuple(groups)

    def _probe(self, props: tuple[ContractProperty, ...]) -> None:
        """Fail early, naming the property, on a pattern rstr cannot satisfy."""
        for prop in props:
            pattern = prop.options.get("pattern")
            if isinstance(pattern, str) and not prop.enum and _kind(prop) == "string":
                # A separate RNG: probing must not shift what the seed generates.
                probe = _Xeger(Random(0))  # noqa: S311 - test data, not secrets
                checker = self._checker(prop)
                if not any(
                    not checker.check({prop.name: self._xeger_or_fail(probe, prop, pattern)})
                    for _ in range(_VALUE_ATTEMPTS)
                ):
                    raise self._pattern_error(prop, pattern)
            self._probe(prop.properties)
            if prop.items is not None:
                self._probe((prop.items,))

    def _xeger_or_fail(self, xeger: _Xeger, prop: ContractProperty, pattern: str) -> str:
        try:
            return xeger.xeger(pattern)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise self._pattern_error(prop, pattern) from err

    def _pattern_error(self, prop: ContractProperty, pattern: str) -> SynthError:
        return _error(
            self.contract,
            prop,
            f"property {prop.name!r}: cannot generate strings that satisfy the pattern "
            f"{pattern!r} (with the property's other options)",
            "generation (rstr) handles literals, classes, groups, alternation and repeats; "
            "lookarounds, atomic groups and possessive repeats are not generated: simplify "
            "the pattern, or list the values as an enum",
        )

    def _checker(self, prop: ContractProperty) -> RecordChecker:
        """A stateless checker of ``prop`` alone: keys are checked across records, elsewhere."""
        checker = self._checkers.get(id(prop))
        if checker is None:
            alone = replace(prop, unique=False, primary_key=False, required=True)
            contract = replace(
                self.contract,
                schemas=(SchemaObject("synth", prop.position, properties=(alone,)),),
            )
            checker = compile_checker(contract)
            self._checkers[id(prop)] = checker
        return checker

    def _invalid_kinds(self) -> dict[str, tuple[ContractProperty, ...]]:
        props = self.obj.properties
        candidates = {
            "required": tuple(p for p in props if p.required or p.primary_key),
            "logicalType": tuple(p for p in props if p.logical_type in _WRONG_TYPE),
            "pattern": tuple(
                p
                for p in props
                if isinstance(p.options.get("pattern"), str) and _kind(p) == "string"
            ),
            "range": tuple(
                p
                for p in props
                if _kind(p) in ("integer", "number", "date", "timestamp", "time")
                and any(p.options.get(k) is not None for k in _BOUND_KEYS)
            ),
            "enum": tuple(p for p in props if p.enum),
            "duplicate": tuple(p for p in props if p.name in self.key_names),
        }
        return {kind: found for kind, found in candidates.items() if found}

    # ------------------------------------------------------------ records

    def run(self, count: int, invalid: frozenset[int]) -> Iterator[Synthetic]:
        for index in range(count):
            yield self._invalid() if index in invalid else self._valid()
            self.made += 1

    def _valid(self) -> Synthetic:
        for _ in range(_RECORD_ATTEMPTS):
            record = self._record()
            if not self.shadow.check(record):
                for group in self.groups:
                    key = _key(record, group)
                    if key is not None:
                        self.seen[group].add(value_key(key))
                        self.history[group].append(key)
                return Synthetic(record)
        raise _error(
            self.contract,
            None,
            f"contract {self.contract.id!r}: could not generate a record that satisfies it",
            "check that the properties' options do not contradict each other",
        )

    def _record(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for prop in self.obj.properties:
            if prop.name in self.key_names:
                record[prop.name] = None  # a placeholder: keys keep the declared order
            elif prop.required or self.rng.random() >= _OMIT_OPTIONAL:
                record[prop.name] = self.value(prop)
        self._fill_keys(record)
        return record

    def _fill_keys(self, record: dict[str, Any]) -> None:
        if not self.groups:
            return
        props = [p for p in self.obj.properties if p.name in self.key_names]
        for _ in range(_KEY_ATTEMPTS):
            for prop in props:
                record[prop.name] = self.value(prop)
            if all(value_key(_key(record, g)) not in self.seen[g] for g in self.groups):
                return
        names = ", ".join(p.name for p in props)
        raise _error(
            self.contract,
            props[0],
            f"contract {self.contract.id!r}: after {self.made} record(s), no new distinct "
            f"value of the key properties ({names}) in {_KEY_ATTEMPTS} attempts",
            f"the contract allows too few distinct values for {self.count} records: "
            "ask for fewer, or widen the pattern, enum or range",
        )

    def _invalid(self) -> Synthetic:
        for _ in range(_RECORD_ATTEMPTS):
            kinds = [
                kind
                for kind in self.kinds
                if kind != "duplicate" or any(self.history[g] for g in self.groups)
            ]
            if not kinds:
                break
            kind = self.rng.choice(kinds)
            record = self._record()
            broken = self._break(kind, record)
            if broken is None:
                continue
            violations = self.shadow.check(record)
            if len(violations) == 1:
                for group in self.groups:
                    key = _key(record, group)
                    if key is not None and kind != "duplicate":
                        # Never reused by a valid record: every key in the output is
                        # distinct except the duplicates made on purpose.
                        self.seen[group].add(value_key(key))
                violation = violations[0]
                return Synthetic(record, violation.rule, broken, violation.message)
        raise _error(
            self.contract,
            None,
            f"contract {self.contract.id!r}: could not make a record that breaks exactly one rule",
            "the first record cannot be a duplicate; give a property a rule to break",
        )

    def _break(self, kind: str, record: dict[str, Any]) -> str | None:
        """Make ``record`` break one rule of ``kind``; the property it broke, or None."""
        if kind == "duplicate":
            group = self.rng.choice([g for g in self.groups if self.history[g]])
            key = self.rng.choice(self.history[group])
            record.update(zip(group.names, key, strict=True))
            return group.names[0] if len(group.names) == 1 else f"({', '.join(group.names)})"
        prop = self.rng.choice(self.kinds[kind])
        if kind == "required":
            del record[prop.name]
            return prop.name
        current = record.get(prop.name)
        if current is None:
            current = self.value(prop)
        candidates = list(self._bad_values(kind, prop, current))
        self.rng.shuffle(candidates)
        checker = self._checker(prop)
        for candidate in candidates:
            violations = checker.check({prop.name: candidate})
            if len(violations) == 1 and _rule_kind(violations[0]) == kind:
                record[prop.name] = candidate
                return prop.name
        return None

    def _bad_values(self, kind: str, prop: ContractProperty, current: Any) -> Iterator[Any]:
        if kind == "logicalType":
            yield from _WRONG_TYPE[prop.logical_type or ""]
        elif kind == "pattern":
            text = str(current)
            yield from ("!" + text, text + "!", text[:-1], text[1:], "", "!")
            low = max(int(prop.options.get("minLength") or 1), 1)
            for char in "!0aA ":
                yield char * low
        elif kind == "enum":
            yield from _not_in_enum(prop.enum)
        elif kind == "range":
            yield from _out_of_range(prop)

    # ------------------------------------------------------------ values

    def value(self, prop: ContractProperty) -> Any:
        """A value for ``prop`` that its own checker accepts."""
        checker = self._checker(prop)
        for attempt in range(_VALUE_ATTEMPTS):
            value = self._raw(prop, attempt)
            if not checker.check({prop.name: value}):
                return value
        pattern = prop.options.get("pattern")
        if isinstance(pattern, str):
            raise self._pattern_error(prop, pattern)
        raise _error(
            self.contract,
            prop,
            f"property {prop.name!r}: could not generate a value that satisfies its options "
            f"in {_VALUE_ATTEMPTS} attempts",
            "check that its options do not contradict each other (e.g. minLength > maxLength)",
        )

    def _raw(self, prop: ContractProperty, attempt: int) -> Any:
        if prop.enum:
            return self.rng.choice(prop.enum)
        generate = _GENERATORS[_kind(prop)]
        return generate(self, prop, attempt)

    def _string(self, prop: ContractProperty, attempt: int) -> str:
        options = prop.options
        pattern = options.get("pattern")
        if isinstance(pattern, str):
            return self._xeger_or_fail(self.xeger, prop, pattern)
        fmt = str(options.get("format") or "").lower()
        formats: dict[str, Callable[[], str]] = {
            "email": self.fake.email,
            "uuid": lambda: str(self.fake.uuid4()),
            "uri": self.fake.uri,
            "hostname": self.fake.hostname,
            "ipv4": self.fake.ipv4,
            "ipv6": self.fake.ipv6,
        }
        if fmt in formats:
            return formats[fmt]()
        provider = _name_hint(prop.name)
        # Realistic values first; on a collision or a length limit, plain letters.
        if provider is not None and attempt < 20:
            return str(getattr(self.fake, provider)())
        low = _int_option(options, "minLength")
        high = _int_option(options, "maxLength")
        low = (1 if high is None or high > 0 else 0) if low is None else low
        high = low + 12 if high is None else max(high, low)
        size = self.rng.randint(low, min(high, low + 40))
        return "".join(self.rng.choice(_LETTERS) for _ in range(size))

    def _integer(self, prop: ContractProperty, attempt: int) -> int:
        options = prop.options
        low, high = _numeric_window(options, integral=True, span=max(10_000, self.count * 20))
        fmt = options.get("format")
        if isinstance(fmt, str) and fmt[:1] in "iu" and fmt[1:].isdigit():
            bits = int(fmt[1:])
            signed = fmt[0] == "i"
            fmt_low = -(1 << (bits - 1)) if signed else 0
            fmt_high = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
            low, high = max(low, fmt_low), min(high, fmt_high)
        step = options.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return self.rng.randint(first, max(first, last)) * step
        return self.rng.randint(low, max(low, high))

    def _number(self, prop: ContractProperty, attempt: int) -> float:
        options = prop.options
        low, high = _numeric_window(options, integral=False, span=1000.0)
        step = options.get("multipleOf")
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return float(self.rng.randint(first, max(first, last)) * step)
        value = self.rng.uniform(low, high)
        # Two decimals read like amounts; a window too narrow for them gets full precision.
        return round(value, 2) if attempt < _VALUE_ATTEMPTS // 2 else value

    def _boolean(self, prop: ContractProperty, attempt: int) -> bool:
        return self.rng.random() < 0.5

    def _date(self, prop: ContractProperty, attempt: int) -> str:
        low, high = _temporal_window(prop.options, "date")
        return date.fromordinal(self.rng.randint(low, max(low, high))).isoformat()

    def _timestamp(self, prop: ContractProperty, attempt: int) -> str:
        low, high = _temporal_window(prop.options, "timestamp")
        moment = datetime.fromtimestamp(self.rng.randint(low, max(low, high)), UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _time(self, prop: ContractProperty, attempt: int) -> str:
        low, high = _temporal_window(prop.options, "time")
        seconds = self.rng.randint(low, max(low, high))
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def _object(self, prop: ContractProperty, attempt: int) -> dict[str, Any]:
        options = prop.options
        needed = options.get("required")
        needed_names = {str(n) for n in needed} if isinstance(needed, list) else set()
        out: dict[str, Any] = {}
        for child in prop.properties:
            if (
                child.required
                or child.primary_key
                or child.name in needed_names
                or self.rng.random() >= _OMIT_OPTIONAL
            ):
                out[child.name] = self.value(child)
        for name in sorted(needed_names - out.keys()):
            out[name] = self.fake.word()
        low = _int_option(options, "minProperties") or 0
        extra = 0
        while len(out) < low:
            extra += 1
            out.setdefault(f"extra_{extra}", self.fake.word())
        high = _int_option(options, "maxProperties")
        if high is not None:
            keep = {c.name for c in prop.properties if c.required} | needed_names
            for name in [n for n in out if n not in keep][::-1]:
                if len(out) <= high:
                    break
                del out[name]
        return out

    def _array(self, prop: ContractProperty, attempt: int) -> list[Any]:
        options = prop.options
        low = _int_option(options, "minItems") or 0
        high = _int_option(options, "maxItems")
        low = max(low, 1) if high is None or high > 0 else low
        high = low + 2 if high is None else max(high, low)
        size = self.rng.randint(low, high)
        items: list[Any] = []
        keys: set[Any] = set()
        distinct = options.get("uniqueItems") is True
        for _ in range(size * 20):
            if len(items) == size:
                break
            item = self.value(prop.items) if prop.items is not None else self.fake.word()
            if distinct:
                key = value_key(item)
                if key in keys:
                    continue
                keys.add(key)
            items.append(item)
        return items

    def _vector(self, prop: ContractProperty, attempt: int) -> list[float]:
        size = _int_option(prop.options, "dimensions")
        return [round(self.rng.uniform(-1.0, 1.0), 6) for _ in range(3 if size is None else size)]


_GENERATORS: dict[str, Callable[[_Synthesizer, ContractProperty, int], Any]] = {
    "string": _Synthesizer._string,
    "integer": _Synthesizer._integer,
    "number": _Synthesizer._number,
    "boolean": _Synthesizer._boolean,
    "date": _Synthesizer._date,
    "timestamp": _Synthesizer._timestamp,
    "time": _Synthesizer._time,
    "object": _Synthesizer._object,
    "map": _Synthesizer._object,
    "array": _Synthesizer._array,
    "vector": _Synthesizer._vector,
}
assert set(_GENERATORS) == set(LOGICAL_TYPES)  # a new logical type needs a generator


def _kind(prop: ContractProperty) -> str:
    """The logical type to generate: declared, or what nested declarations imply."""
    if prop.logical_type is not None:
        return prop.logical_type
    if prop.properties:
        return "object"
    if prop.items is not None:
        return "array"
    return "string"


def _rule_kind(violation: Violation) -> str:
    return "range" if violation.rule in _BOUND_KEYS else violation.rule


def _key(record: Mapping[str, Any], group: _KeyGroup) -> tuple[Any, ...] | None:
    values = tuple(record.get(n) for n in group.names)
    return None if None in values else values


def _name_hint(name: str) -> str | None:
    lowered = name.lower()
    return next((provider for word, provider in _NAME_HINTS if word in lowered), None)


def _int_option(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_option(options: Mapping[str, Any], key: str) -> float | None:
    value = options.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _numeric_window(options: Mapping[str, Any], *, integral: bool, span: float) -> tuple[Any, Any]:
    low = _number_option(options, "minimum")
    high = _number_option(options, "maximum")
    exclusive_low = _number_option(options, "exclusiveMinimum")
    exclusive_high = _number_option(options, "exclusiveMaximum")
    if integral:
        lows = [math.ceil(v) for v in (low,) if v is not None]
        lows += [math.floor(v) + 1 for v in (exclusive_low,) if v is not None]
        highs = [math.floor(v) for v in (high,) if v is not None]
        highs += [math.ceil(v) - 1 for v in (exclusive_high,) if v is not None]
        width = int(span)
        first = max(lows) if lows else None
        last = min(highs) if highs else None
        if first is None:
            first = 1 if last is None or last > width else last - width
        if last is None:
            last = first + width
        return first, last
    # Exclusive bounds: the values rounded onto them are refused by the check, and retried.
    flows = [v for v in (low, exclusive_low) if v is not None]
    fhighs = [v for v in (high, exclusive_high) if v is not None]
    lo = max(flows) if flows else None
    hi = min(fhighs) if fhighs else None
    if lo is None:
        lo = 0.0 if hi is None or hi > span else hi - span
    if hi is None:
        hi = lo + span
    return lo, hi


def _parse_temporal(raw: Any, logical: str) -> Any:
    """A bound as the generator counts: a date ordinal, epoch seconds, seconds of the day."""
    if isinstance(raw, str):
        try:
            if logical == "date":
                raw = date.fromisoformat(raw[:10])
            elif logical == "timestamp":
                raw = datetime.fromisoformat(raw.replace("z", "Z"))
            else:
                raw = time.fromisoformat(raw[:-1] if raw.endswith(("Z", "z")) else raw)
        except ValueError:
            return None
    if logical == "date" and isinstance(raw, date):
        return raw.toordinal() if not isinstance(raw, datetime) else raw.date().toordinal()
    if logical == "timestamp" and isinstance(raw, datetime):
        moment = raw if raw.tzinfo is not None else raw.replace(tzinfo=UTC)
        return moment.timestamp()
    if logical == "timestamp" and isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC).timestamp()
    if logical == "time" and isinstance(raw, time):
        return raw.hour * 3600 + raw.minute * 60 + raw.second + raw.microsecond / 1e6
    return None


def _temporal_window(options: Mapping[str, Any], logical: str) -> tuple[int, int]:
    if logical == "date":
        low, high = _DATE_WINDOW[0].toordinal(), _DATE_WINDOW[1].toordinal()
    elif logical == "timestamp":
        low, high = _TIMESTAMP_WINDOW
    else:
        low, high = 0, 86_399
    bounds = {k: _parse_temporal(options.get(k), logical) for k in _BOUND_KEYS}
    has_low = bounds["minimum"] is not None or bounds["exclusiveMinimum"] is not None
    has_high = bounds["maximum"] is not None or bounds["exclusiveMaximum"] is not None
    width = high - low
    if bounds["minimum"] is not None:
        low = math.ceil(bounds["minimum"])
    if bounds["exclusiveMinimum"] is not None:
        low = max(
            low if bounds["minimum"] is not None else -(1 << 62),
            math.floor(bounds["exclusiveMinimum"]) + 1,
        )
    if bounds["maximum"] is not None:
        high = math.floor(bounds["maximum"])
    if bounds["exclusiveMaximum"] is not None:
        high = min(
            high if bounds["maximum"] is not None else 1 << 62,
            math.ceil(bounds["exclusiveMaximum"]) - 1,
        )
    # A one-sided bound moves the default window along rather than stretching it.
    if has_low and not has_high:
        high = low + width
    elif has_high and not has_low:
        low = high - width
    return low, high


def _not_in_enum(values: tuple[Any, ...]) -> Iterator[Any]:
    texts = [v for v in values if isinstance(v, str)]
    for text in texts:
        yield text + "_x"
        yield text.swapcase() if text.swapcase() != text else "x" + text
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if numbers:
        yield max(numbers) + 1
        yield min(numbers) - 1
    flags = {v for v in values if isinstance(v, bool)}
    yield from (flag for flag in (True, False) if flags and flag not in flags)


def _out_of_range(prop: ContractProperty) -> Iterator[Any]:
    options = prop.options
    kind = _kind(prop)
    for key in _BOUND_KEYS:
        raw = options.get(key)
        if raw is None:
            continue
        below = key in ("minimum", "exclusiveMinimum")
        if kind in ("integer", "number"):
            bound = _number_option(options, key)
            if bound is None:
                continue
            step = _number_option(options, "multipleOf")
            deltas = [1, 10, 0.5] + ([step] if step else [])
            for delta in deltas:
                value = bound - delta if below else bound + delta
                if kind == "integer":
                    value = math.floor(value) if below else math.ceil(value)
                yield value
            if key.startswith("exclusive"):
                yield math.floor(bound) if kind == "integer" else bound
            continue
        counted = _parse_temporal(raw, kind)
        if counted is None:
            continue
        for delta in (1, 0) if key.startswith("exclusive") else (1,):
            at = math.floor(counted) - delta if below else math.ceil(counted) + delta
            yield _render_temporal(at, kind)


def _render_temporal(at: int, kind: str) -> str:
    if kind == "date":
        return date.fromordinal(at).isoformat()
    if kind == "timestamp":
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=at)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    at = min(max(at, 0), 86_399)
    return f"{at // 3600:02d}:{at // 60 % 60:02d}:{at % 60:02d}"
