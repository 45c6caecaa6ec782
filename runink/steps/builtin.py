"""The built-in steps (DESIGN §4), record by record; parameters as in :mod:`.catalog`.

Conventions shared by every step here:

* A field name with dots (``trader.email``) addresses a nested object, as in
  expressions; ``Rename`` is the exception and renames top-level keys only.
* Steps never edit the dicts they receive: a changed record is a new dict (nested
  objects on the changed path are copied too), so the DLQ and other branches keep
  the record as it was.
* A null or missing field is left as it is (null stays null, missing stays missing).
* A record that is not a JSON object goes to the DLQ.

MaskPII's three methods (key: ``StepContext.mask_key``, the herd's, so the same
value masks the same way in every pipeline of the herd):

* ``hash``: ``"hmac:" + hex(HMAC-SHA256(k_hash, value))``, 64 hex digits; joinable.
* ``tokenize``: ``"tok_" + the first 16 hex digits of HMAC-SHA256(k_token, value)``;
  shorter, joinable, with a (tiny) chance of collision.
* ``redact``: the string ``"[REDACTED]"``.

``k_hash`` and ``k_token`` are derived from the herd key with HMAC and distinct
labels, so a token is not a prefix of the hash. A string is hashed as its UTF-8
bytes (so the same e-mail hashes the same everywhere); any other value as a NUL byte
followed by its canonical JSON, so ``"1"`` and ``1`` differ.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from runink.contracts.checker import (
    ContractCheckError,
    compile_checker,
    describe_violations,
    value_key,
)
from runink.contracts.model import Contract, ContractProperty
from runink.findings import Position
from runink.steps.registry import STEP_META_PARAMS
from runink.steps.runtime import (
    DlqEntry,
    Record,
    StepConfigError,
    StepContext,
    StepImpl,
    StepOutcome,
)

if TYPE_CHECKING:
    from runink.dsl.expr import CompiledExpr, ExprRuntimeError

REDACTED = "[REDACTED]"
HASH_PREFIX = "hmac:"
TOKEN_PREFIX = "tok_"  # noqa: S105 (a prefix of masked values, not a secret)

_MISSING = object()


class _Reject(Exception):
    """Raised by a step's ``handle`` to send the record to the DLQ with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RecordStep:
    """A step that maps each record to one record, or None (filtered), or rejects it."""

    name = "step"
    contract_id: str | None = None

    def handle(self, record: Record) -> Record | None:
        raise NotImplementedError

    def process(self, batch: list[Record]) -> StepOutcome:
        out: list[Record] = []
        dlq: list[DlqEntry] = []
        filtered = 0
        handle = self.handle
        # Any: the frames decode JSON, and a line that is not an object must reach the DLQ.
        records: list[Any] = batch
        for record in records:
            if type(record) is not dict:
                if not isinstance(record, Mapping):
                    dlq.append(
                        self.reject(record, f"expected a JSON object, found {_kind(record)}")
                    )
                    continue
                record = dict(record)
            try:
                result = handle(record)
            except _Reject as rejected:
                dlq.append(self.reject(record, rejected.reason))
                continue
            if result is None:
                filtered += 1
            else:
                out.append(result)
        return StepOutcome(out, dlq, filtered, len(out))

    def flush(self) -> StepOutcome:
        return StepOutcome()

    def reject(self, record: Any, reason: str) -> DlqEntry:
        return DlqEntry(record, reason, self.name, self.contract_id)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------- paths


def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _getter(path: str) -> Callable[[Mapping[str, Any]], Any]:
    """Reads ``path`` from a record; None when it, or an object on the way, is absent."""
    if "." not in path:
        return lambda record: record.get(path)
    parts = _parts(path)

    def get(record: Mapping[str, Any]) -> Any:
        value: Any = record
        for part in parts:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return get


def _update(record: Mapping[str, Any], parts: tuple[str, ...], fn: Callable[[Any], Any]) -> Any:
    """A copy of ``record`` with ``fn`` applied at ``parts``, or None when nothing changes.

    ``fn`` sees only non-null values and returns the value itself to change nothing.
    """
    head = parts[0]
    value = record.get(head)
    if value is None:
        return None
    if len(parts) == 1:
        new = fn(value)
        if new is value:
            return None
    else:
        if not isinstance(value, Mapping):
            return None
        new = _update(value, parts[1:], fn)
        if new is None:
            return None
    copy = dict(record)
    copy[head] = new
    return copy


def _updater(paths: Sequence[str], fn: Callable[[Any], Any]) -> Callable[[Record], Record]:
    all_parts = tuple(_parts(p) for p in paths)

    def apply(record: Record) -> Record:
        current = record
        for parts in all_parts:
            changed = _update(current, parts, fn)
            if changed is not None:
                current = changed
        return current

    return apply


# ---------------------------------------------------------------- ValidateContract


#: Most batches ValidateContract checks record by record after a batch check failed.
MAX_FAST_PATH_BACKOFF = 64


class ValidateContract:
    """Records that break the contract go to the DLQ, with every violation named."""

    name = "ValidateContract"
    passthrough = True  # emits input records unchanged: slices forward their bytes

    def __init__(self, params: Mapping[str, Any], ctx: StepContext) -> None:
        contract_id = str(params["contract"])
        contract = ctx.contracts.get(contract_id)
        if contract is None:
            raise StepConfigError(
                f"step {ctx.step_id!r} (ValidateContract): no contract {contract_id!r} "
                f"(known: {', '.join(sorted(ctx.contracts)) or 'none'})"
            )
        try:
            checker = compile_checker(contract)
        except ContractCheckError as err:
            raise StepConfigError(f"step {ctx.step_id!r} (ValidateContract): {err}") from err
        self.contract_id = contract_id
        self._check = checker.check
        self._all_valid = checker.all_valid
        # A batch holding a bad record pays for the batch check and then record by record:
        # after one, the next batches skip the batch check (1, 2, 4 ... up to
        # MAX_FAST_PATH_BACKOFF of them), so a stream full of bad records costs little more
        # than checking record by record. A clean batch makes it try every batch again.
        self._skip = 0
        self._backoff = 1

    def process(self, batch: list[Record]) -> StepOutcome:
        if self._skip:
            self._skip -= 1
        elif self._all_valid(batch):  # the common case, checked a column at a time
            self._backoff = 1
            # The very list: a slice then sees at once that every line goes on unchanged.
            return StepOutcome(batch, [], 0, len(batch))
        else:
            self._skip = self._backoff
            self._backoff = min(2 * self._backoff, MAX_FAST_PATH_BACKOFF)
        check = self._check
        name = self.name
        contract_id = self.contract_id
        out: list[Record] = []
        dlq: list[DlqEntry] = []
        for record in batch:
            violations = check(record)
            if violations:
                dlq.append(DlqEntry(record, describe_violations(violations), name, contract_id))
            else:
                out.append(record)
        return StepOutcome(out, dlq, 0, len(out))

    def flush(self) -> StepOutcome:
        return StepOutcome()


# ---------------------------------------------------------------- MaskPII


def sensitive_fields(contract: Contract) -> list[str]:
    """Paths of every property ``contract`` classifies as sensitive, nested objects included.

    Properties inside arrays are not reached: mask the whole array property instead.
    """
    found: list[str] = []

    def walk(props: Iterable[ContractProperty], prefix: str) -> None:
        for prop in props:
            path = f"{prefix}{prop.name}"
            if prop.sensitive:
                found.append(path)
            elif prop.properties:
                walk(prop.properties, f"{path}.")

    for obj in contract.schemas:
        walk(obj.properties, "")
    return list(dict.fromkeys(found))


def _derive(key: bytes, label: bytes) -> bytes:
    return hmac.new(key, label, hashlib.sha256).digest()


def _mask_input(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    try:
        return b"\x00" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # e.g. an integer beyond 64 bits
        return b"\x00" + repr(value).encode("utf-8", "surrogatepass")


def masker(method: str, mask_key: bytes) -> Callable[[Any], str]:
    """The function that masks one non-null value with ``method`` (see the module doc)."""
    if method == "redact":
        return lambda value: REDACTED
    if not mask_key:
        raise StepConfigError(f"MaskPII method {method!r} needs the herd's mask key; it is empty")
    if method == "hash":
        key = _derive(mask_key, b"runink/mask-pii/hash")
        return lambda value: (
            HASH_PREFIX + hmac.new(key, _mask_input(value), hashlib.sha256).hexdigest()
        )
    if method == "tokenize":
        key = _derive(mask_key, b"runink/mask-pii/tokenize")
        return lambda value: (
            TOKEN_PREFIX + hmac.new(key, _mask_input(value), hashlib.sha256).hexdigest()[:16]
        )
    raise StepConfigError(f"MaskPII: unknown method {method!r} (hash, redact or tokenize)")


class MaskPII(_RecordStep):
    """Masks fields in place: ``hash`` (default), ``redact`` or ``tokenize``."""

    name = "MaskPII"

    def __init__(self, params: Mapping[str, Any], ctx: StepContext) -> None:
        fields = params.get("fields")
        if fields is None:
            if ctx.input_contract is None:
                raise StepConfigError(
                    f"step {ctx.step_id!r} (MaskPII): no fields= and no input contract to "
                    "take the pii, restricted, confidential and sensitive fields from"
                )
            fields = sensitive_fields(ctx.input_contract)
        self.fields = tuple(str(f) for f in fields)
        self.method = str(params.get("method", "hash"))
        self._apply = _updater(self.fields, masker(self.method, ctx.mask_key))

    def handle(self, record: Record) -> Record | None:
        return self._apply(record)


# ---------------------------------------------------------------- Filter


def _position(text: str) -> Position:
    """``"features/x.dsl:13:5"`` -> Position; anything else names a file only."""
    head, _, column = text.rpartition(":")
    file, _, line = head.rpartition(":")
    if file and line.isdigit() and column.isdigit():
        return Position(file, int(line), int(column))
    return Position(text or "<step>")


def _compile(text: str, where: Position, ctx: StepContext, what: str) -> CompiledExpr:
    # The expression compiler (lark) loads only in slices whose step has expressions.
    from runink.dsl.errors import DslError
    from runink.dsl.expr import compile_expression

    fields = ctx.input_contract.fields() if ctx.input_contract is not None else None
    try:
        return compile_expression(text, where, fields, boolean=True)
    except DslError as err:
        raise StepConfigError(f"step {ctx.step_id!r} ({what}): {err}") from err


def _expr_error() -> type[ExprRuntimeError]:
    from runink.dsl.expr import ExprRuntimeError

    return ExprRuntimeError


def _started(ctx: StepContext) -> datetime:
    return ctx.started_at if ctx.started_at is not None else datetime.now(UTC)


class Filter(_RecordStep):
    """Keeps records where ``when`` holds; the rest are filtered.

    A record on which the expression cannot be evaluated goes to the DLQ with why.
    """

    name = "Filter"
    passthrough = True  # emits input records unchanged: slices forward their bytes

    def __init__(self, params: Mapping[str, Any], ctx: StepContext) -> None:
        self.when = str(params["when"])
        self._expr = _compile(self.when, Position(f"step {ctx.step_id}"), ctx, "Filter")
        self._now = _started(ctx)
        self._error = _expr_error()

    def handle(self, record: Record) -> Record | None:
        try:
            keep = self._expr.test(record, now=self._now)
        except self._error as err:
            raise _Reject(f"Filter when {self.when!r}: {err.reason}") from None
        return record if keep else None


# ---------------------------------------------------------------- Select, Rename


class Select(_RecordStep):
    """Keeps only the listed fields (absent ones stay absent), in the order listed."""

    name = "Select"

    def __init__(self, params: Mapping[str, Any], ctx: StepContext) -> None:
        self.fields = tuple(str(f) for f in params["fields"])
        self._flat = all("." not in f for f in self.fields)
        self._parts = tuple(_parts(f) for f in self.fields)

    def handle(self, record: Record) -> Record | None:
        if self._flat:
            return {f: record[f] for f in self.fields if f in record}
        out: Record = {}
        for parts in self._parts:
            value: Any = record
            for part in parts:
                if not isinstance(value, Mapping) or part not in value:
                    value = _MISSING
                    break
                value = value[part]
            if value is _MISSING:
                continue
            target = out
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        return out


class Rename(_RecordStep):
    """Renames top-level fields ``{old: new}``, keeping their position.

    A rename onto a field the record already has (and that is not itself renamed
    away) would lose that field's value: such a record goes to the DLQ.
    """

    name = "Rename"

    def __init__(self, params: Mapping[str, Any], ctx: StepContext) -> None:
        self.mapping = {str(k): str(v) for k, v in params["mapping"].items()}
        targets = list(self.mapping.values())
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise StepConfigError(
                f"step {ctx.step_id!r} (Rename): several fields renamed to {', '.join(twice)}"
            )

    def handle(self, record: Record) -> Record | None:
        mapping = self.mapping
        if not any(old in record for old in mapping):
            return record
        for old, new in mapping.items():
            if old in record and new in record and new not in mapping and new != old:
                raise _Reject(f"Rename {old!r} to {new!r}: the record already has {new!r}")
        return {mapping.get(k, k): v for k, v in record.items()}


# ---------------------------------------------------------------- Dedupe, Normalize


class Dedupe(_RecordStep):
    """Keeps the first record of each key; later ones are filtered.

    Null and missing key values are values here (two records without the key are
    duplicates). The keys seen are held in memory for the slice's lifetime.
    """

    name = "Dedupe"
    passthrough = True  # emits input records unchanged: slices forward their bytes

    def __init__(self, params: Mapping[str, Any], ctx: StepContext) -> None:
        self.keys = tuple(str(k) for k in params["keys"])
        self._getters = tuple(_getter(k) for k in self.keys)
        self._seen: set[Any] = set()

    def handle(self, record: Record) -> Record | None:
        key = value_key(tuple(get(record) for get in self._getters))
        if key in self._seen:
            return None
        self._seen.add(key)
        return record


_OPS: dict[str, Callable[[str], str]] = {
    "trim": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "email": lambda s: s.strip().lower(),
}


class Normalize(_RecordStep):
    """Applies ``ops`` to string ``fields``, in the order the ops are listed.

    ``email`` is trim then lower. Values that are not strings are left as they are.
    """

    name = "Normalize"

    def __init__(self, params: Mapping[str, Any], ctx: StepContext) -> None:
        self.fields = tuple(str(f) for f in params["fields"])
        self.ops = tuple(str(o) for o in params.get("ops", ["trim"]))
        functions = tuple(_OPS[o] for o in self.ops)

        def normalise(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            for fn in functions:
                value = fn(value)
            return value

        self._apply = _updater(self.fields, normalise)

    def handle(self, record: Record) -> Record | None:
        return self._apply(record)


# ---------------------------------------------------------------- Aggregate

_METRIC = re.compile(r"(count)\(\)|(sum|min|max|avg)\(([A-Za-z_][A-Za-z0-9_.]*)\)")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``"1h30m"`` -> 5400.0 seconds. Raises ValueError for anything else."""
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text or total <= 0:
        raise ValueError(f"not a duration: {text!r} (e.g. 30s, 5m, 1h30m)")
    return total


@dataclass(frozen=True)
class _Metric:
    name: str
    func: str
    field: str | None
    get: Callable[[Mapping[str, Any]], Any] | None


class _Sum:
    """Exact for integers; floats with Neumaier's compensated summation."""

    __slots__ = ("any_float", "compensation", "floats", "integers", "n")

    def __init__(self) -> None:
        self.integers = 0
        self.floats = 0.0
        self.compensation = 0.0
        self.any_float = False
        self.n = 0

    def add(self, value: int | float) -> None:
        self.n += 1
        if isinstance(value, int):
            self.integers += value
            return
        self.any_float = True
        total = self.floats + value
        if abs(self.floats) >= abs(value):
            self.compensation += (self.floats - total) + value
        else:
            self.compensation += (value - total) + self.floats
        self.floats = total

    def total(self) -> int | float | None:
        if self.n == 0:
            return None
        if not self.any_float:
            return self.integers
        return self.integers + (self.floats + self.compensation)

    def average(self) -> float | None:
        total = self.total()
        return None if total is None else total / self.n


def _numeric(value: Any) -> int | float | None:
    """The number to sum, or None when ``value`` is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    return None


def _order_kind(value: Any) -> str | None:
    """Values of one kind can be min/max'ed together; None: not orderable."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | Decimal):
        return "number"
    if isinstance(value, float):
        return "number" if not math.isnan(value) else None
    if isinstance(value, str):
        return "string"
    return None


class Aggregate:
    """Groups records by ``by`` and computes ``metrics``; emits at flush.

    Groups come out in the order they were first seen, each as the ``by`` fields then
    the metrics. SQL semantics for nulls: ``count()`` counts records, the other
    metrics skip null values (and are null for a group with none). ``sum`` is an
    integer while every input is one. A record whose metric input cannot be summed
    (or ordered, for min/max, with the group's earlier values) goes to the DLQ and
    leaves its group untouched.

    With ``window`` (a stream), windows are tumbling and in processing time, checked
    when a batch arrives (``process([])`` is a tick): the groups of a window that has
    ended are emitted, with ``window_start`` and ``window_end`` (ISO-8601, UTC).
    """

    name = "Aggregate"

    def __init__(
        self,
        params: Mapping[str, Any],
        ctx: StepContext,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.by = tuple(str(b) for b in params.get("by") or ())
        self._by_get = tuple(_getter(b) for b in self.by)
        metrics: list[_Metric] = []
        for name, spec in dict(params["metrics"]).items():
            match = _METRIC.fullmatch(str(spec))
            if match is None:
                raise StepConfigError(
                    f"step {ctx.step_id!r} (Aggregate): metric {name!r}: {spec!r} is not "
                    "count(), sum(f), min(f), max(f) or avg(f)"
                )
            if name in self.by:
                raise StepConfigError(
                    f"step {ctx.step_id!r} (Aggregate): metric {name!r} has the name of a "
                    "group-by field"
                )
            func = match.group(1) or match.group(2)
            fld = match.group(3)
            metrics.append(_Metric(str(name), func, fld, _getter(fld) if fld else None))
        self._metrics = tuple(metrics)
        window = params.get("window")
        try:
            self._window = parse_duration(str(window)) if window is not None else None
        except ValueError as err:
            raise StepConfigError(f"step {ctx.step_id!r} (Aggregate): {err}") from err
        self._clock = clock
        self._window_start: float | None = None
        self._groups: dict[Any, tuple[tuple[Any, ...], list[Any]]] = {}

    def process(self, batch: list[Record]) -> StepOutcome:
        emitted: list[Record] = []
        if self._window is not None:
            now = self._clock()
            if self._window_start is not None and now - self._window_start >= self._window:
                emitted = self._emit(self._window_start, self._window_start + self._window)
                # Windows are aligned to where the first one began, skipping empty ones.
                elapsed = (now - self._window_start) // self._window
                self._window_start += elapsed * self._window
            if batch and self._window_start is None:
                self._window_start = now
        dlq: list[DlqEntry] = []
        consumed = 0
        for record in batch:
            reason = self._absorb(record)
            if reason is None:
                consumed += 1
            else:
                dlq.append(DlqEntry(record, reason, self.name))
        return StepOutcome(emitted, dlq, 0, consumed)

    def flush(self) -> StepOutcome:
        if self._window is not None and self._window_start is not None:
            return StepOutcome(self._emit(self._window_start, self._window_start + self._window))
        return StepOutcome(self._emit(None, None))

    def _absorb(self, record: Any) -> str | None:
        if not isinstance(record, Mapping):
            return f"expected a JSON object, found {_kind(record)}"
        by_values = tuple(get(record) for get in self._by_get)
        key = value_key(by_values)
        group = self._groups.get(key)
        state = group[1] if group is not None else None
        inputs: list[Any] = []
        for i, metric in enumerate(self._metrics):
            if metric.get is None:
                inputs.append(None)
                continue
            value = metric.get(record)
            if value is None:
                inputs.append(None)
                continue
            if metric.func in ("sum", "avg"):
                number = _numeric(value)
                if number is None:
                    return (
                        f"Aggregate {metric.name}: {metric.func}({metric.field}) needs a number, "
                        f"found {_show(value)}"
                    )
                inputs.append(number)
                continue
            kind = _order_kind(value)
            current = state[i] if state is not None else None
            if kind is None or (current is not None and _order_kind(current) != kind):
                against = f" with {_show(current)}" if kind is not None else ""
                return (
                    f"Aggregate {metric.name}: {metric.func}({metric.field}) cannot order "
                    f"{_show(value)}{against}"
                )
            inputs.append(value)
        if state is None:
            state = [_Sum() if m.func in ("sum", "avg") else None for m in self._metrics]
            for i, metric in enumerate(self._metrics):
                if metric.func == "count":
                    state[i] = 0
            self._groups[key] = (by_values, state)
        for i, metric in enumerate(self._metrics):
            value = inputs[i]
            if metric.func == "count":
                state[i] += 1
            elif value is None:
                continue
            elif metric.func in ("sum", "avg"):
                state[i].add(value)
            elif metric.func == "min":
                if state[i] is None or value < state[i]:
                    state[i] = value
            elif state[i] is None or value > state[i]:
                state[i] = value
        return None

    def _emit(self, start: float | None, end: float | None) -> list[Record]:
        out: list[Record] = []
        for by_values, state in self._groups.values():
            row: Record = dict(zip(self.by, by_values, strict=True))
            for i, metric in enumerate(self._metrics):
                value = state[i]
                if metric.func == "sum":
                    value = value.total()
                elif metric.func == "avg":
                    value = value.average()
                row[metric.name] = value
            if start is not None and end is not None:
                row["window_start"] = _iso(start)
                row["window_end"] = _iso(end)
            out.append(row)
        self._groups = {}
        return out


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:60] + "...")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return _kind(value)


# ---------------------------------------------------------------- assertions


class AssertionLike(Protocol):
    """What a plan's assertion provides (``runink.compiler.Assertion`` is one)."""

    @property
    def expression(self) -> str: ...

    @property
    def position(self) -> str: ...


class AssertStep(_RecordStep):
    """A scenario's per-record assertions (``@assert``, backticked ``Then``).

    A record failing any of them goes to the DLQ with ``assertion failed: <expr>``
    (each failing one, joined by ``; ``); one on which an assertion cannot be
    evaluated, with ``assertion error: <expr>: <why>``.
    """

    name = "Assert"
    passthrough = True  # emits input records unchanged: slices forward their bytes

    def __init__(self, assertions: Sequence[AssertionLike | str], ctx: StepContext) -> None:
        compiled: list[CompiledExpr] = []
        for item in assertions:
            if isinstance(item, str):
                text, where = item, Position(f"step {ctx.step_id}")
            else:
                text, where = item.expression, _position(item.position)
            compiled.append(_compile(text, where, ctx, "assertion"))
        self._checks = tuple(compiled)
        self._now = _started(ctx)
        self._error = _expr_error()

    def handle(self, record: Record) -> Record | None:
        failures: list[str] = []
        for check in self._checks:
            try:
                ok = check.test(record, now=self._now)
            except self._error as err:
                failures.append(f"assertion error: {check.source}: {err.reason}")
                continue
            if not ok:
                failures.append(f"assertion failed: {check.source}")
        if failures:
            raise _Reject("; ".join(failures))
        return record


# ---------------------------------------------------------------- construction

StepFactory = Callable[[Mapping[str, Any], StepContext], StepImpl]

BUILTIN_IMPLS: Mapping[str, StepFactory] = {
    "ValidateContract": ValidateContract,
    "MaskPII": MaskPII,
    "Filter": Filter,
    "Select": Select,
    "Rename": Rename,
    "Dedupe": Dedupe,
    "Normalize": Normalize,
    "Aggregate": Aggregate,
}


def make_builtin(
    name: str, params: Mapping[str, Any], ctx: StepContext, *, validated: bool = False
) -> StepImpl:
    """Built-in step ``name``, its parameters checked against the catalogue's schema first
    (unless ``validated``: a compiled plan's parameters, which the compiler checked)."""
    factory = BUILTIN_IMPLS.get(name)
    if factory is None:
        raise StepConfigError(f"{name!r} is not a built-in step")
    plain = {k: v for k, v in params.items() if k not in STEP_META_PARAMS}
    if validated:  # a slice need not load jsonschema to check them again
        return factory(plain, ctx)
    from runink.steps.catalog import validate_params

    where = Position(f"step {ctx.step_id}")
    findings = validate_params(name, plain, locate=lambda path: where)
    if findings:
        problems = "; ".join(f.message + (f" ({f.hint})" if f.hint else "") for f in findings)
        raise StepConfigError(f"step {ctx.step_id!r} ({name}): {problems}")
    return factory(plain, ctx)
