"""User steps: imported from the repository's file, called with what they declare, and
everything they do wrong turned into a DLQ entry or a clear error."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runink.steps.runtime import (
    StepConfigError,
    StepContext,
    StepImpl,
    StepLoadError,
    StepOutcome,
    UserContext,
    UserStep,
    load_user_step,
    make_step,
    user_step,
)

EXAMPLE_STEPS = Path(__file__).resolve().parents[3] / "example-repo" / "steps" / "trades.py"
_COUNTER = itertools.count()


def write_module(tmp_path: Path, source: str, stem: str = "mod") -> tuple[Path, str]:
    """A step module whose step names end in a suffix unique to this test (the registry is
    process-wide). ``S`` in ``source`` stands for the suffix."""
    suffix = f"T{next(_COUNTER)}"
    path = tmp_path / "steps" / f"{stem}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).replace("{S}", suffix), encoding="utf-8")
    return path, suffix


CTX = StepContext(
    run_id="run-7",
    herd="finance",
    pipeline="finance/trades/validate",
    step_id="user",
    secrets={"token": "s3cret"},
    mask_key=b"never-for-users",
)


def build_user_step(
    tmp_path: Path, source: str, name: str, params: dict[str, Any] | None = None
) -> StepImpl:
    path, suffix = write_module(tmp_path, source)
    load_user_step(path, f"{name}{suffix}")
    return make_step(f"{name}{suffix}", params or {}, CTX)


def run(impl: StepImpl, batch: list[Any]) -> StepOutcome:
    outcome = impl.process(batch)
    assert outcome.accounts_for(len(batch)), outcome
    return outcome


# ---------------------------------------------------------------- loading


def test_the_example_repository_step_loads_and_decodes() -> None:
    registered = load_user_step(EXAMPLE_STEPS, "DecodeTrade")
    impl = make_step("DecodeTrade", {}, CTX)
    assert isinstance(user_step(registered, {}, CTX), UserStep)

    outcome = run(
        impl,
        [{"trade_id": "T1", "payload": "VOD|SELL|2500|0.72|GBP|e@x.io|2026-11-02T09:35:00Z"}],
    )

    assert registered.name == "DecodeTrade" and not registered.batch
    assert isinstance(impl, UserStep)
    assert outcome.records[0]["notional"] == 1800.0


def test_a_module_is_imported_once_per_process(tmp_path: Path) -> None:
    marker = tmp_path / "imports.txt"
    path, suffix = write_module(
        tmp_path,
        f"""
        from pathlib import Path
        from runink import step

        with Path({str(marker)!r}).open("a") as f:
            f.write("imported\\n")

        @step("A{{S}}")
        def a(record):
            return record

        @step("B{{S}}")
        def b(record):
            return record
        """,
    )

    load_user_step(path, f"A{suffix}")
    load_user_step(path, f"B{suffix}")

    assert marker.read_text() == "imported\n"


def one_step_module(name: str, body: str, batch: bool = False) -> str:
    """Source of a module holding the one step ``name`` (with the test suffix)."""
    return (
        "from runink import step\n\n\n"
        f"@step({name + '{S}'!r}, batch={batch})\n"
        f"{textwrap.dedent(body)}"
    )


def test_same_file_name_in_two_repositories_does_not_collide(tmp_path: Path) -> None:
    one, s1 = write_module(
        tmp_path / "one", one_step_module("X", "def f(record):\n    return {'from': 1}\n"), "trades"
    )
    two, s2 = write_module(
        tmp_path / "two", one_step_module("X", "def f(record):\n    return {'from': 2}\n"), "trades"
    )

    load_user_step(one, f"X{s1}")
    load_user_step(two, f"X{s2}")

    assert run(make_step(f"X{s1}", {}, CTX), [{}]).records == [{"from": 1}]
    assert run(make_step(f"X{s2}", {}, CTX), [{}]).records == [{"from": 2}]


def test_a_step_the_module_does_not_define_names_what_it_does(tmp_path: Path) -> None:
    path, suffix = write_module(
        tmp_path,
        """
        from runink import step

        @step("Enrich{S}")
        def enrich(record):
            return record
        """,
    )

    with pytest.raises(
        StepLoadError, match=rf"no step 'Enrih{suffix}'.*did you mean 'Enrich{suffix}'"
    ):
        load_user_step(path, f"Enrih{suffix}")


def test_a_module_that_fails_to_import_reports_its_own_traceback(tmp_path: Path) -> None:
    path, suffix = write_module(
        tmp_path,
        """
        from runink import step

        def helper():
            return {}["missing"]

        helper()
        """,
    )

    with pytest.raises(StepLoadError) as caught:
        load_user_step(path, f"Any{suffix}")

    message = str(caught.value)
    assert "importing the module raised KeyError: 'missing'" in message
    assert "in helper" in message
    assert "importlib" not in message


def test_a_missing_module_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StepLoadError, match="no such step module"):
        load_user_step(tmp_path / "steps" / "nope.py", "Nope")


def test_an_argument_the_runtime_does_not_provide_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StepConfigError, match="argument 'config' is not one the runtime provides"):
        build_user_step(
            tmp_path,
            one_step_module("Bad", "def f(record, config):\n    return record\n"),
            "Bad",
        )
    with pytest.raises(StepConfigError, match="a batch step takes 'records', not 'record'"):
        build_user_step(
            tmp_path / "b",
            one_step_module("Batch", "def f(record):\n    return record\n", batch=True),
            "Batch",
        )


# ---------------------------------------------------------------- calling


@pytest.mark.parametrize(
    "signature",
    [
        "record",
        "record, params",
        "params, record, ctx",
        "record, *, ctx, params",
        "ctx, params",
        "record, params, extra=5, *args, **kwargs",
        "*, record",
    ],
)
def test_a_step_gets_only_the_arguments_it_declares(tmp_path: Path, signature: str) -> None:
    impl = build_user_step(
        tmp_path,
        f"""
        from runink import step

        @step("Sig{{S}}")
        def sig({signature}):
            seen = dict(locals())
            return {{
                "record": seen.get("record"),
                "params": seen.get("params"),
                "run": seen["ctx"].run_id if "ctx" in seen else None,
            }}
        """,
        "Sig",
        {"factor": 2},
    )

    out = run(impl, [{"x": 1}]).records[0]

    names = signature.replace("*", "").replace(" ", "").split(",")
    assert out["record"] == ({"x": 1} if "record" in names else None)
    assert out["params"] == ({"factor": 2} if "params" in names else None)
    assert out["run"] == ("run-7" if "ctx" in names else None)


def test_user_context_carries_secrets_but_not_the_mask_key(tmp_path: Path) -> None:
    impl = build_user_step(
        tmp_path,
        """
        from runink import step

        @step("Ctx{S}")
        def f(record, ctx):
            return {"ctx": ctx}
        """,
        "Ctx",
    )

    ctx = run(impl, [{}]).records[0]["ctx"]

    assert isinstance(ctx, UserContext)
    assert ctx.secrets["token"] == "s3cret"
    assert ctx.herd == "finance"
    assert not hasattr(ctx, "mask_key")
    assert "s3cret" not in repr(ctx)


# ---------------------------------------------------------------- returns

RETURNS = """
from runink import step

@step("Ret{S}")
def ret(record):
    kind = record["kind"]
    if kind == "dict":
        return {**record, "ok": True}
    if kind == "none":
        return None
    if kind == "fan":
        return [{"n": 1}, {"n": 2}]
    if kind == "gen":
        return ({"n": i} for i in range(3))
    if kind == "empty":
        return []
    if kind == "str":
        return "oops"
    if kind == "mixed":
        return [{"n": 1}, 5]
    if kind == "mapping":
        import types
        return types.MappingProxyType({"m": 1})
    if kind == "broken-gen":
        def gen():
            yield {"n": 1}
            raise RuntimeError("half way")
        return gen()
"""


def test_returns_map_to_records_filtered_and_fan_out(tmp_path: Path) -> None:
    impl = build_user_step(tmp_path, RETURNS, "Ret")
    batch = [{"kind": k} for k in ("dict", "none", "fan", "gen", "empty", "mapping")]

    outcome = run(impl, batch)

    assert outcome.records == [
        {"kind": "dict", "ok": True},
        {"n": 1},
        {"n": 2},
        {"n": 0},
        {"n": 1},
        {"n": 2},
        {"m": 1},
    ]
    assert (outcome.consumed, outcome.filtered, outcome.dlq) == (4, 2, [])


def test_wrong_returns_go_to_the_dlq_with_a_clear_reason(tmp_path: Path) -> None:
    impl = build_user_step(tmp_path, RETURNS, "Ret")
    name = impl.name

    outcome = run(impl, [{"kind": "str"}, {"kind": "mixed"}, {"kind": "broken-gen"}])

    assert outcome.records == []
    assert [e.reason for e in outcome.dlq] == [
        f"{name} returned a str; a step returns a dict, None, or an iterable of dicts",
        f"{name} returned an iterable holding a int at position 1; "
        "a step returns a dict, None, or an iterable of dicts",
        f"{name} raised RuntimeError: half way",
    ]
    assert [e.record for e in outcome.dlq] == [
        {"kind": "str"},
        {"kind": "mixed"},
        {"kind": "broken-gen"},
    ]


def test_an_exception_sends_the_record_as_it_came_with_the_user_traceback(tmp_path: Path) -> None:
    impl = build_user_step(
        tmp_path,
        """
        from runink import step

        def check(value):
            if value < 0:
                raise ValueError(f"negative quantity {value}")

        @step("Qty{S}")
        def qty(record):
            record["touched"] = True
            check(record["q"])
            return record
        """,
        "Qty",
    )
    bad = {"q": -1}

    outcome = run(impl, [{"q": 1}, bad])

    assert outcome.records == [{"q": 1, "touched": True}]
    [entry] = outcome.dlq
    assert entry.record == {"q": -1}, "the DLQ keeps the record as it entered the step"
    assert entry.reason == f"{impl.name} raised ValueError: negative quantity -1"
    assert entry.step == impl.name and entry.contract is None
    assert entry.traceback is not None
    assert "in qty" in entry.traceback and "in check" in entry.traceback
    assert "runtime.py" not in entry.traceback
    assert entry.traceback.endswith("ValueError: negative quantity -1\n")


# ---------------------------------------------------------------- batch steps

BATCH = """
from runink import step

@step("Score{S}", batch=True)
def score(records, params):
    if any(r.get("boom") for r in records):
        raise ZeroDivisionError("division by zero")
    if any(r.get("none") for r in records):
        return None
    return [{**r, "score": r["v"] * params["w"]} for r in records if r["v"] > 0]
"""


def test_a_batch_step_counts_dropped_records_as_filtered(tmp_path: Path) -> None:
    impl = build_user_step(tmp_path, BATCH, "Score", {"w": 10})

    outcome = run(impl, [{"v": 1}, {"v": -1}, {"v": 2}])

    assert outcome.records == [{"v": 1, "score": 10}, {"v": 2, "score": 20}]
    assert (outcome.consumed, outcome.filtered) == (2, 1)
    assert run(impl, []) == StepOutcome()


def test_a_failing_batch_sends_every_record_of_it_to_the_dlq(tmp_path: Path) -> None:
    impl = build_user_step(tmp_path, BATCH, "Score", {"w": 10})

    raised = run(impl, [{"v": 1}, {"v": 2, "boom": True}])
    returned_none = run(impl, [{"v": 1, "none": True}])

    assert [e.record for e in raised.dlq] == [{"v": 1}, {"v": 2, "boom": True}]
    assert {e.reason for e in raised.dlq} == {
        f"{impl.name} raised ZeroDivisionError: division by zero"
    }
    assert [e.reason for e in returned_none.dlq] == [
        f"{impl.name} returned None; a batch step returns a list of dicts"
    ]


def test_records_that_are_not_objects_never_reach_user_code(tmp_path: Path) -> None:
    per_record = build_user_step(tmp_path, RETURNS, "Ret")
    batch = build_user_step(tmp_path / "b", BATCH, "Score", {"w": 1})

    one = run(per_record, [[1], None, {"kind": "dict"}])
    many = run(batch, ["text", {"v": 3}])

    assert [e.reason for e in one.dlq] == [
        f"{per_record.name} got an array, not a JSON object",
        f"{per_record.name} got null, not a JSON object",
    ]
    assert one.records == [{"kind": "dict", "ok": True}]
    assert [e.reason for e in many.dlq] == [f"{batch.name} got a str, not a JSON object"]
    assert many.records == [{"v": 3, "score": 3}]
