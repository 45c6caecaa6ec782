"""The record-level step interface a slice drives, and the adapter for user steps.

A slice builds its step once (:func:`make_step`), then calls ``process`` with each
batch of records and ``flush`` at the end of input. Every input record is accounted
for exactly once in the :class:`StepOutcome` of the ``process`` call that received
it: it was *consumed* (it produced output, or was absorbed, e.g. into an aggregate),
*filtered*, or sent to the DLQ, so ``len(batch) == consumed + filtered + len(dlq)``.
``flush`` consumes nothing; it only emits (what an aggregate held back).

User steps (``steps/<module>.py`` in the pipeline repository) are imported here and
nowhere else: :func:`load_user_step` runs inside the slice process that executes
them, never in the control plane.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from runink.contracts.model import Contract
from runink.findings import did_you_mean
from runink.steps.registry import RegisteredStep, registered

if TYPE_CHECKING:
    from runink.steps.builtin import AssertStep as AssertStep


def __getattr__(name: str) -> Any:
    # AssertStep lives with the built-ins, which import this module; served lazily here
    # so that a slice can take every step kind from one place.
    if name == "AssertStep":
        from runink.steps.builtin import AssertStep

        return AssertStep
    raise AttributeError(f"module 'runink.steps.runtime' has no attribute {name!r}")


#: Longest exception message quoted in a DLQ reason, in characters.
MAX_REASON_MESSAGE = 2000

Record = dict[str, Any]


@dataclass(frozen=True)
class StepContext:
    """What a step instance knows about where it runs.

    ``contracts`` are the repository's contracts by id; ``input_contract`` is the
    contract of the records entering the step, when the plan knows it. ``secrets``
    (the herd's declared secrets) and ``mask_key`` (the herd's MaskPII key) never
    appear in a repr. ``started_at`` pins ``now()`` in expressions to one value per
    run; when None, the step pins it when it is built.
    """

    run_id: str
    herd: str
    pipeline: str
    step_id: str
    contracts: Mapping[str, Contract] = field(default_factory=dict)
    input_contract: Contract | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    mask_key: bytes = field(default=b"", repr=False)
    started_at: datetime | None = None


@dataclass(frozen=True)
class UserContext:
    """The ``ctx`` a user step receives: the run, and the herd's secrets.

    Deliberately not :class:`StepContext`: user code gets no ``mask_key``, since
    with it hashed values could be reversed by trying candidates.
    """

    run_id: str
    herd: str
    pipeline: str
    step_id: str
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class DlqEntry:
    """A record that a step rejected, why, and which step (and contract) rejected it.

    ``record`` is the record as it entered the step. ``traceback`` is set for user
    step exceptions: the frames of the user module only.
    """

    record: Any
    reason: str
    step: str
    contract: str | None = None
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, e.g. for a DLQ sink; absent optional fields are left out."""
        data: dict[str, Any] = {"record": self.record, "reason": self.reason, "step": self.step}
        if self.contract is not None:
            data["contract"] = self.contract
        if self.traceback is not None:
            data["traceback"] = self.traceback
        return data


@dataclass(frozen=True)
class StepOutcome:
    """What one ``process`` or ``flush`` call produced."""

    records: list[Record] = field(default_factory=list)
    dlq: list[DlqEntry] = field(default_factory=list)
    filtered: int = 0
    consumed: int = 0

    def accounts_for(self, inputs: int) -> bool:
        """True when every one of ``inputs`` records is consumed, filtered or in the DLQ."""
        return (
            self.consumed >= 0
            and self.filtered >= 0
            and (inputs == self.consumed + self.filtered + len(self.dlq))
        )


class StepImpl(Protocol):
    """A step instance, built once per slice.

    A step may declare ``passthrough = True`` when every record it emits is one of its
    input records, unchanged (it only selects): the slice then forwards those records'
    original bytes instead of encoding them again.
    """

    @property
    def name(self) -> str:
        """The step's name, as written in the feature (``ValidateContract``, ``DecodeTrade``)."""
        ...

    def process(self, batch: list[Record]) -> StepOutcome:
        """Handle one batch; accounts for every record of it."""
        ...

    def flush(self) -> StepOutcome:
        """End of input: emit what is held back (consumes nothing)."""
        ...


class StepConfigError(ValueError):
    """A step cannot be built: unknown step, bad parameters, a contract that is not there."""


class StepLoadError(Exception):
    """A user step module cannot be imported, or does not define the step asked for."""


def make_step(
    name: str, params: Mapping[str, Any], ctx: StepContext, *, validated: bool = False
) -> StepImpl:
    """Build step ``name`` with ``params`` (a plan node's parameters) for one slice.

    Built-in steps are checked against their parameter schema first, unless
    ``validated`` (the parameters of a compiled plan: the compiler checked them). Any
    other name must be a user step already loaded in this process
    (:func:`load_user_step`). Raises :class:`StepConfigError` with every problem.
    """
    from runink.steps.builtin import BUILTIN_IMPLS, make_builtin

    if name in BUILTIN_IMPLS:
        return make_builtin(name, params, ctx, validated=validated)
    found = registered(name)
    if found is None:
        hint = did_you_mean(name, BUILTIN_IMPLS)
        raise StepConfigError(
            f"unknown step {name!r}: not a built-in, and no user step of that name is loaded"
            + (f" ({hint})" if hint else "; load its module with load_user_step first")
        )
    return UserStep(found, params, ctx)


def user_step(step: RegisteredStep, params: Mapping[str, Any], ctx: StepContext) -> StepImpl:
    """The user step ``step`` (from :func:`load_user_step`) as a :class:`StepImpl`."""
    return UserStep(step, params, ctx)


# ---------------------------------------------------------------- user steps

_LOADED: dict[Path, ModuleType] = {}


def load_user_step(module_path: Path, name: str) -> RegisteredStep:
    """Import the user module at ``module_path`` (once per process) and return step ``name``.

    The module is imported from its file, under a private module name, so two
    repositories' ``steps/trades.py`` never meet. Raises :class:`StepLoadError` when
    the import fails (with the user's traceback) or the module does not register
    ``name`` with ``@step``.
    """
    path = module_path.resolve()
    module = _LOADED.get(path)
    if module is None:
        module = _import_file(path)
        _LOADED[path] = module
    found = registered(name)
    if found is None or getattr(found.func, "__module__", None) != module.__name__:
        raise StepLoadError(
            f"{module_path}: no step {name!r} is registered there ({_defined_hint(path, name)})"
        )
    return found


def _defined_hint(path: Path, name: str) -> str:
    # Read from the source, as the compiler does: the registry is process-wide.
    from runink.steps.discover import discover_steps

    defined = [s.name for s in discover_steps(path.read_text("utf-8"), str(path)).steps]
    if not defined:
        return "it defines no @step"
    return did_you_mean(name, defined) or f"it defines {', '.join(sorted(defined))}"


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise StepLoadError(f"{path}: no such step module")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"_runink_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StepLoadError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as import does: dataclasses and pickling look it up.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        detail = _user_traceback(exc, str(path))
        raise StepLoadError(
            f"{path}: importing the module raised {_exception_text(exc)}\n{detail}"
        ) from exc
    return module


def _exception_text(exc: BaseException) -> str:
    message = str(exc)
    if len(message) > MAX_REASON_MESSAGE:
        message = message[:MAX_REASON_MESSAGE] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _user_traceback(exc: BaseException, filename: str) -> str:
    """The traceback of ``exc`` reduced to the frames of the user module ``filename``."""
    tb: TracebackType | None = exc.__traceback__
    frames = [f for f in traceback.extract_tb(tb) if f.filename == filename]
    lines = ["Traceback (most recent call last, user code only):\n"]
    lines.extend(traceback.format_list(frames))
    lines.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(lines)


def _source_file(step: RegisteredStep) -> str:
    """The file of the module that registered ``step``: the frames a DLQ traceback keeps."""
    module = sys.modules.get(getattr(step.func, "__module__", "") or "")
    filename = getattr(module, "__file__", None)
    if isinstance(filename, str):
        return filename
    code = getattr(step.func, "__code__", None)
    return str(getattr(code, "co_filename", ""))


class _BadReturn(Exception):
    pass


_RETURNS = "a step returns a dict, None, or an iterable of dicts"
_BATCH_RETURNS = "a batch step returns a list of dicts"


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


class UserStep:
    """A user ``@step`` function as a :class:`StepImpl`.

    The function is called with only the arguments it declares (``record`` or
    ``records``, ``params``, ``ctx``), on a shallow copy of each record so that a
    function which edits its input and then raises leaves the DLQ copy intact.

    Per record: a dict is one output record; None filters the record; any other
    iterable of dicts fans out (the input counts as consumed; an empty iterable
    counts as filtered). An exception, or any other return value, sends the record
    to the DLQ, with nothing of its output kept.

    Batch steps (``batch=True``) get the list and return a list. Outputs cannot be
    traced back to inputs, so the counts assume the common case, a transformation
    that may drop records: ``n`` inputs and ``m`` outputs count ``min(n, m)``
    consumed and the rest filtered. An exception sends the whole batch to the DLQ.
    """

    def __init__(
        self, registered_step: RegisteredStep, params: Mapping[str, Any], ctx: StepContext
    ):
        self._step = registered_step
        user_ctx = UserContext(
            run_id=ctx.run_id,
            herd=ctx.herd,
            pipeline=ctx.pipeline,
            step_id=ctx.step_id,
            secrets=MappingProxyType(dict(ctx.secrets)),
        )
        self._call = _caller(registered_step, dict(params), user_ctx)
        self._filename = _source_file(registered_step)

    @property
    def name(self) -> str:
        return self._step.name

    def process(self, batch: list[Record]) -> StepOutcome:
        if not batch:
            return StepOutcome()
        if self._step.batch:
            return self._process_batch(batch)
        out: list[Record] = []
        dlq: list[DlqEntry] = []
        filtered = consumed = 0
        call = self._call
        # Any: the frames decode JSON, and a line that is not an object must reach the DLQ.
        records: list[Any] = batch
        for record in records:
            if type(record) is not dict and not isinstance(record, Mapping):
                dlq.append(self._not_an_object(record))
                continue
            try:
                result = call(dict(record))
                if type(result) is dict:
                    out.append(result)
                    consumed += 1
                    continue
                if result is None:
                    filtered += 1
                    continue
                produced = self._many(result, _RETURNS)
            except _BadReturn as bad:
                dlq.append(DlqEntry(record, f"{self.name} {bad}", self.name))
                continue
            except Exception as exc:
                dlq.append(self._raised(record, exc))
                continue
            if produced:
                out.extend(produced)
                consumed += 1
            else:
                filtered += 1
        return StepOutcome(out, dlq, filtered, consumed)

    def _process_batch(self, batch: list[Record]) -> StepOutcome:
        records: list[Any] = batch
        given = [r for r in records if isinstance(r, Mapping)]
        dlq = [self._not_an_object(r) for r in records if not isinstance(r, Mapping)]
        if not given:
            return StepOutcome(dlq=dlq)
        try:
            result = self._call([dict(r) for r in given])
            if result is None:
                raise _BadReturn(f"returned None; {_BATCH_RETURNS}")
            produced = self._many(result, _BATCH_RETURNS)
        except _BadReturn as bad:
            reason = f"{self.name} {bad}"
            return StepOutcome(dlq=dlq + [DlqEntry(r, reason, self.name) for r in given])
        except Exception as exc:
            return StepOutcome(dlq=dlq + [self._raised(r, exc) for r in given])
        consumed = min(len(given), len(produced))
        return StepOutcome(produced, dlq, len(given) - consumed, consumed)

    def _not_an_object(self, record: Any) -> DlqEntry:
        if record is None:
            kind = "null"
        elif isinstance(record, list | tuple):
            kind = "an array"
        else:
            kind = f"a {type(record).__name__}"
        return DlqEntry(record, f"{self.name} got {kind}, not a JSON object", self.name)

    def flush(self) -> StepOutcome:
        return StepOutcome()

    def _many(self, result: Any, expected: str) -> list[Record]:
        if isinstance(result, Mapping):
            if self._step.batch:
                raise _BadReturn(f"returned a {_kind(result)}; {expected}")
            return [dict(result)]
        if isinstance(result, str | bytes | bytearray) or not isinstance(result, Iterable):
            raise _BadReturn(f"returned a {_kind(result)}; {expected}")
        produced: list[Record] = []
        for i, item in enumerate(result):
            if type(item) is dict:
                produced.append(item)
            elif isinstance(item, Mapping):
                produced.append(dict(item))
            else:
                raise _BadReturn(
                    f"returned an iterable holding a {_kind(item)} at position {i}; {expected}"
                )
        return produced

    def _raised(self, record: Any, exc: Exception) -> DlqEntry:
        return DlqEntry(
            record,
            f"{self.name} raised {_exception_text(exc)}",
            self.name,
            traceback=_user_traceback(exc, self._filename),
        )


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _caller(step: RegisteredStep, params: dict[str, Any], ctx: UserContext) -> Callable[[Any], Any]:
    """A one-argument call of the step function, passing only what it declares."""
    data_name = "records" if step.batch else "record"
    provided: dict[str, Any] = {"params": params, "ctx": ctx}
    try:
        signature = inspect.signature(step.func)
    except (TypeError, ValueError) as err:
        raise StepConfigError(f"step {step.name!r}: cannot read its signature: {err}") from err
    positional: list[str] = []
    keyword: list[str] = []
    for p in signature.parameters.values():
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if p.name != data_name and p.name not in provided:
            if p.default is inspect.Parameter.empty:
                other = "record" if step.batch else "records"
                hint = (
                    f"; a {'batch' if step.batch else 'per-record'} step takes {data_name!r}, "
                    f"not {other!r}"
                    if p.name == other
                    else ""
                )
                raise StepConfigError(
                    f"step {step.name!r}: argument {p.name!r} is not one the runtime provides "
                    f"({data_name}, params, ctx){hint}"
                )
            continue
        if p.kind in _POSITIONAL and not keyword:
            positional.append(p.name)
        else:
            keyword.append(p.name)
    func = step.func
    fixed_kw = {n: provided[n] for n in keyword if n != data_name}
    data_kw = data_name in keyword
    if data_name not in positional:
        args = tuple(provided[n] for n in positional)
        if data_kw:
            return lambda data: func(*args, **fixed_kw, **{data_name: data})
        return lambda data: func(*args, **fixed_kw)
    at = positional.index(data_name)
    before = tuple(provided[n] for n in positional[:at])
    after = tuple(provided[n] for n in positional[at + 1 :])
    if not fixed_kw:
        if not before and not after:
            return func
        return lambda data: func(*before, data, *after)
    return lambda data: func(*before, data, *after, **fixed_kw)
