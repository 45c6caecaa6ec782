"""The built-in steps, record by record: what each does, and that every record is accounted for."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runink.contracts.load import build_contract
from runink.contracts.model import Contract
from runink.steps.builtin import (
    REDACTED,
    Aggregate,
    AssertStep,
    parse_duration,
    sensitive_fields,
)
from runink.steps.runtime import (
    DlqEntry,
    StepConfigError,
    StepContext,
    StepImpl,
    StepOutcome,
    make_step,
)
from runink.yamlpos import parse_yaml

KEY = b"herd-finance-mask-key"


def contract_of(contract_id: str, properties: list[dict[str, Any]]) -> Contract:
    document = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": contract_id,
        "version": "1.0.0",
        "status": "active",
        "schema": [{"name": contract_id, "properties": properties}],
    }
    doc, findings = parse_yaml(yaml.safe_dump(document, sort_keys=False), "contracts/c.yaml")
    assert doc is not None, findings
    return build_contract(doc, "0" * 40)


PEOPLE = contract_of(
    "person",
    [
        {"name": "id", "logicalType": "integer", "required": True, "primaryKey": True},
        {"name": "name", "logicalType": "string", "classification": "pii"},
        {"name": "salary", "logicalType": "number", "classification": "Confidential"},
        {"name": "team", "logicalType": "string", "classification": "public"},
        {
            "name": "contact",
            "logicalType": "object",
            "properties": [
                {"name": "email", "logicalType": "string", "classification": "restricted"},
                {"name": "phone", "logicalType": "string", "classification": "sensitive"},
                {"name": "floor", "logicalType": "integer"},
            ],
        },
    ],
)


def ctx(**changes: Any) -> StepContext:
    base: dict[str, Any] = {
        "run_id": "run-1",
        "herd": "finance",
        "pipeline": "finance/people/clean",
        "step_id": "step",
        "contracts": {"person": PEOPLE},
        "input_contract": PEOPLE,
        "mask_key": KEY,
    }
    base.update(changes)
    return StepContext(**base)


def step(name: str, **params: Any) -> StepImpl:
    return make_step(name, params, ctx())


def run(impl: StepImpl, batch: list[Any]) -> StepOutcome:
    """``process`` that also checks the conservation rule the runtime checks."""
    outcome = impl.process(batch)
    assert outcome.accounts_for(len(batch)), outcome
    return outcome


def reasons(outcome: StepOutcome) -> list[str]:
    return [entry.reason for entry in outcome.dlq]


# ---------------------------------------------------------------- construction


def test_parameters_are_checked_against_the_catalogue() -> None:
    with pytest.raises(StepConfigError, match=r"no parameter 'feilds'.*did you mean 'fields'"):
        step("Select", feilds=["a"])
    with pytest.raises(StepConfigError, match="needs parameter 'keys'"):
        step("Dedupe")
    with pytest.raises(StepConfigError, match="'scramble' is not one of"):
        step("MaskPII", method="scramble")


def test_plan_meta_parameters_are_ignored() -> None:
    impl = step("Select", fields=["id"], id="pick", after="other")

    assert run(impl, [{"id": 1, "x": 2}]).records == [{"id": 1}]


def test_an_unknown_step_is_a_clear_error() -> None:
    with pytest.raises(StepConfigError, match=r"unknown step 'Fliter'.*did you mean 'Filter'"):
        step("Fliter", when="true")


def test_a_non_object_record_goes_to_the_dlq_in_every_step() -> None:
    impls = [
        step("ValidateContract", contract="person"),
        step("MaskPII"),
        step("Filter", when="record.id > 0"),
        step("Select", fields=["id"]),
        step("Rename", mapping={"id": "key"}),
        step("Dedupe", keys=["id"]),
        step("Normalize", fields=["name"]),
        step("Aggregate", metrics={"n": "count()"}),
    ]
    for impl in impls:
        outcome = run(impl, [[1, 2], "text", None])
        assert len(outcome.dlq) == 3, impl.name
        assert all(entry.step == impl.name for entry in outcome.dlq)


# ---------------------------------------------------------------- ValidateContract


def test_validate_contract_sends_failures_to_the_dlq_with_the_contract() -> None:
    impl = step("ValidateContract", contract="person")
    good = {"id": 1, "name": "Ann"}
    bad = {"id": "one", "salary": -1, "contact": {"floor": "3"}}

    outcome = run(impl, [good, bad])

    assert outcome.records == [good]
    assert outcome.consumed == 1
    assert outcome.dlq == [
        DlqEntry(
            bad,
            "id: expected an integer, found 'one'; contact.floor: expected an integer, found '3'",
            "ValidateContract",
            "person",
        )
    ]


def test_validate_contract_remembers_primary_keys_across_batches() -> None:
    impl = step("ValidateContract", contract="person")

    run(impl, [{"id": 1}])
    outcome = run(impl, [{"id": 1}])

    assert reasons(outcome) == ["id: duplicate primary key 1: already seen in this run"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.fixed_dictionaries(
                {"id": st.integers(min_value=0, max_value=40)},
                optional={"name": st.one_of(st.text(max_size=3), st.integers(0, 2))},
            ),
            min_size=1,
            max_size=8,
        ),
        max_size=12,
    )
)
def test_validate_contract_judges_a_stream_as_record_by_record_whatever_its_batches(
    batches: list[list[dict[str, Any]]],
) -> None:
    # Clean batches take the batch check, dirty ones (and those after them) do not:
    # what passes, what fails and why is the same as checking one record at a time.
    impl = step("ValidateContract", contract="person")
    alone = step("ValidateContract", contract="person")
    for batch in batches:
        outcome = run(impl, batch)
        singles = [run(alone, [record]) for record in batch]
        assert outcome.records == [r for one in singles for r in one.records]
        assert reasons(outcome) == [why for one in singles for why in reasons(one)]


def test_validate_contract_needs_a_known_contract() -> None:
    with pytest.raises(StepConfigError, match="no contract 'nope'"):
        step("ValidateContract", contract="nope")


# ---------------------------------------------------------------- MaskPII


def test_hash_is_a_keyed_hmac_in_hex_with_a_prefix() -> None:
    outcome = run(step("MaskPII", fields=["name"]), [{"name": "Ann", "team": "risk"}])

    masked = outcome.records[0]["name"]
    assert masked.startswith("hmac:")
    assert len(masked) == len("hmac:") + 64
    assert outcome.records[0]["team"] == "risk"
    # Not the plain HMAC under the herd key itself: the hash key is derived from it.
    assert masked[5:] != hmac.new(KEY, b"Ann", hashlib.sha256).hexdigest()


def test_hash_is_stable_for_a_key_and_differs_between_keys() -> None:
    record = {"name": "Ann"}
    first = run(step("MaskPII", fields=["name"]), [record]).records[0]
    again = run(step("MaskPII", fields=["name"]), [record]).records[0]
    other = make_step("MaskPII", {"fields": ["name"]}, ctx(mask_key=b"other-herd"))

    assert first == again
    assert run(other, [record]).records[0] != first


def test_tokenize_is_short_deterministic_and_not_a_prefix_of_the_hash() -> None:
    token = run(step("MaskPII", fields=["name"], method="tokenize"), [{"name": "Ann"}])
    hashed = run(step("MaskPII", fields=["name"]), [{"name": "Ann"}])

    value = token.records[0]["name"]
    assert value.startswith("tok_")
    assert len(value) == 4 + 16
    int(value[4:], 16)
    assert value[4:] not in hashed.records[0]["name"]
    again = run(step("MaskPII", fields=["name"], method="tokenize"), [{"name": "Ann"}])
    assert again.records[0]["name"] == value


def test_redact_nulls_and_missing_fields() -> None:
    impl = step("MaskPII", fields=["name", "salary", "contact.email"], method="redact")
    records: list[dict[str, Any]] = [
        {"name": "Ann", "salary": 10, "contact": {"email": "a@x.io", "floor": 2}},
        {"name": None, "contact": None},
        {"id": 3},
    ]

    outcome = run(impl, records)

    assert outcome.records == [
        {"name": REDACTED, "salary": REDACTED, "contact": {"email": REDACTED, "floor": 2}},
        {"name": None, "contact": None},
        {"id": 3},
    ]
    assert records[0]["contact"] == {"email": "a@x.io", "floor": 2}, "input left as it was"


def test_masking_keeps_strings_apart_from_numbers() -> None:
    outcome = run(step("MaskPII", fields=["v"]), [{"v": "1"}, {"v": 1}, {"v": [1]}])

    values = [r["v"] for r in outcome.records]
    assert len(set(values)) == 3


def test_default_fields_are_the_contract_sensitive_ones_nested_included() -> None:
    assert sensitive_fields(PEOPLE) == ["name", "salary", "contact.email", "contact.phone"]
    impl = step("MaskPII", method="redact")

    outcome = run(
        impl, [{"id": 1, "name": "A", "team": "t", "contact": {"phone": "1", "floor": 1}}]
    )

    assert outcome.records == [
        {"id": 1, "name": REDACTED, "team": "t", "contact": {"phone": REDACTED, "floor": 1}}
    ]


def test_mask_without_fields_or_contract_or_key_is_refused() -> None:
    with pytest.raises(StepConfigError, match="no fields= and no input contract"):
        make_step("MaskPII", {}, ctx(input_contract=None))
    with pytest.raises(StepConfigError, match="mask key"):
        make_step("MaskPII", {"fields": ["name"]}, ctx(mask_key=b""))
    # Redacting needs no key.
    make_step("MaskPII", {"fields": ["name"], "method": "redact"}, ctx(mask_key=b""))


def test_context_repr_hides_the_mask_key_and_secrets() -> None:
    shown = repr(ctx(secrets={"db": "hunter2"}))

    assert "hunter2" not in shown
    assert repr(KEY) not in shown


# ---------------------------------------------------------------- Filter


def test_filter_keeps_what_holds_and_counts_the_rest() -> None:
    outcome = run(step("Filter", when="record.salary > 100"), [{"salary": 50}, {"salary": 150}, {}])

    assert outcome.records == [{"salary": 150}]
    assert (outcome.consumed, outcome.filtered) == (1, 2)


def test_filter_sends_records_it_cannot_evaluate_to_the_dlq() -> None:
    impl = make_step("Filter", {"when": "record.x > 1"}, ctx(input_contract=None))

    outcome = run(impl, [{"x": "abc"}, {"x": 2}])

    assert outcome.records == [{"x": 2}]
    assert reasons(outcome) == ["Filter when 'record.x > 1': cannot compare a string with a number"]


def test_filter_expression_is_checked_against_the_input_contract() -> None:
    with pytest.raises(StepConfigError, match="salray"):
        step("Filter", when="record.salray > 1")


# ---------------------------------------------------------------- Select, Rename


def test_select_keeps_the_listed_fields_in_order() -> None:
    outcome = run(
        step("Select", fields=["team", "id", "contact.email"]),
        [{"id": 1, "name": "A", "team": None, "contact": {"email": "e", "floor": 2}}, {"x": 1}],
    )

    assert outcome.records == [{"team": None, "id": 1, "contact": {"email": "e"}}, {}]
    assert [list(r) for r in outcome.records] == [["team", "id", "contact"], []]


def test_rename_keeps_positions_and_swaps() -> None:
    outcome = run(
        step("Rename", mapping={"a": "b", "b": "a", "total": "amount"}),
        [{"a": 1, "total": 2, "b": 3}],
    )

    assert outcome.records == [{"b": 1, "amount": 2, "a": 3}]
    assert list(outcome.records[0]) == ["b", "amount", "a"]


def test_rename_onto_an_existing_field_goes_to_the_dlq_rather_than_lose_it() -> None:
    outcome = run(step("Rename", mapping={"total": "amount"}), [{"total": 1, "amount": 2}])

    assert outcome.records == []
    assert reasons(outcome) == ["Rename 'total' to 'amount': the record already has 'amount'"]


def test_rename_of_two_fields_to_one_name_is_refused() -> None:
    with pytest.raises(StepConfigError, match="several fields renamed to x"):
        step("Rename", mapping={"a": "x", "b": "x"})


# ---------------------------------------------------------------- Dedupe, Normalize


def test_dedupe_filters_later_records_with_the_same_keys_across_batches() -> None:
    impl = step("Dedupe", keys=["id", "contact.floor"])

    first = run(impl, [{"id": 1, "contact": {"floor": 1}}, {"id": 1, "contact": {"floor": 2}}])
    second = run(impl, [{"id": 1, "contact": {"floor": 1}, "v": 2}, {"id": True}, {"id": 1}])

    assert len(first.records) == 2
    assert second.records == [{"id": True}, {"id": 1}]
    assert second.filtered == 1


def test_normalize_applies_ops_in_order_to_strings_only() -> None:
    impl = step("Normalize", fields=["email", "code", "contact.name"], ops=["email"])
    outcome = run(
        impl,
        [{"email": "  Ann@Shop.Example ", "code": 7, "contact": {"name": " X "}}, {"other": " a "}],
    )

    assert outcome.records == [
        {"email": "ann@shop.example", "code": 7, "contact": {"name": "x"}},
        {"other": " a "},
    ]
    upper_then_trim = step("Normalize", fields=["s"], ops=["upper", "trim"])
    assert run(upper_then_trim, [{"s": " ab "}]).records == [{"s": "AB"}]
    default = step("Normalize", fields=["s"])
    assert run(default, [{"s": " Ab "}]).records == [{"s": "Ab"}]


# ---------------------------------------------------------------- Aggregate


TRADES = [
    {"symbol": "AAPL", "ccy": "USD", "notional": 10, "px": 1.5},
    {"symbol": "SAP", "ccy": "EUR", "notional": 5.5, "px": 2.0},
    {"symbol": "AAPL", "ccy": "USD", "notional": 20, "px": None},
    {"symbol": "AAPL", "ccy": "EUR", "notional": 1, "px": 0.5},
]
METRICS = {
    "n": "count()",
    "total": "sum(notional)",
    "low": "min(px)",
    "high": "max(px)",
    "mean": "avg(px)",
}


def test_aggregate_emits_groups_at_flush_in_first_seen_order() -> None:
    impl = step("Aggregate", by=["symbol", "ccy"], metrics=METRICS)

    outcome = run(impl, TRADES[:2])
    later = run(impl, TRADES[2:])
    flushed = impl.flush()

    assert outcome.records == later.records == []
    assert outcome.consumed + later.consumed == 4
    assert (flushed.consumed, flushed.filtered, flushed.dlq) == (0, 0, [])
    assert flushed.records == [
        {"symbol": "AAPL", "ccy": "USD", "n": 2, "total": 30, "low": 1.5, "high": 1.5, "mean": 1.5},
        {"symbol": "SAP", "ccy": "EUR", "n": 1, "total": 5.5, "low": 2.0, "high": 2.0, "mean": 2.0},
        {"symbol": "AAPL", "ccy": "EUR", "n": 1, "total": 1, "low": 0.5, "high": 0.5, "mean": 0.5},
    ]
    assert isinstance(flushed.records[0]["total"], int)


def test_aggregate_without_by_is_one_group_and_nothing_in_gives_nothing_out() -> None:
    impl = step("Aggregate", metrics={"n": "count()", "s": "sum(v)", "a": "avg(v)"})
    assert impl.flush().records == []

    run(impl, [{"v": None}, {}])
    assert impl.flush().records == [{"n": 2, "s": None, "a": None}]


def test_aggregate_sends_unsummable_records_to_the_dlq_and_leaves_the_group_alone() -> None:
    impl = step("Aggregate", by=["k"], metrics={"n": "count()", "s": "sum(v)", "m": "max(w)"})

    outcome = run(
        impl,
        [
            {"k": 1, "v": 1, "w": "b"},
            {"k": 1, "v": "2"},
            {"k": 1, "v": True},
            {"k": 1, "v": math.nan},
            {"k": 1, "v": 1, "w": 3},
            {"k": 1, "v": 1, "w": {"x": 1}},
        ],
    )

    assert outcome.consumed == 1
    assert reasons(outcome) == [
        "Aggregate s: sum(v) needs a number, found '2'",
        "Aggregate s: sum(v) needs a number, found true",
        "Aggregate s: sum(v) needs a number, found nan",
        "Aggregate m: max(w) cannot order 3 with 'b'",
        "Aggregate m: max(w) cannot order an object",
    ]
    assert impl.flush().records == [{"k": 1, "n": 1, "s": 1, "m": "b"}]


def test_aggregate_sums_floats_without_drift_and_takes_decimals() -> None:
    impl = step("Aggregate", metrics={"s": "sum(v)"})
    run(impl, [{"v": 0.1}] * 10 + [{"v": Decimal("0.5")}])

    assert impl.flush().records == [{"s": 1.5}]


def test_aggregate_metric_named_like_a_group_field_is_refused() -> None:
    with pytest.raises(StepConfigError, match="group-by field"):
        step("Aggregate", by=["n"], metrics={"n": "count()"})


def test_aggregate_window_emits_each_ended_window_when_a_batch_or_tick_arrives() -> None:
    now = [1_000_000.0]
    impl = Aggregate(
        {"by": ["k"], "metrics": {"n": "count()"}, "window": "1m"},
        ctx(),
        clock=lambda: now[0],
    )

    assert run(impl, [{"k": "a"}, {"k": "b"}]).records == []
    now[0] += 30
    assert run(impl, [{"k": "a"}]).records == []
    now[0] += 31
    closed = run(impl, [{"k": "c"}])
    now[0] += 200
    tick = run(impl, [])

    assert closed.records == [
        {
            "k": "a",
            "n": 2,
            "window_start": "1970-01-12T13:46:40Z",
            "window_end": "1970-01-12T13:47:40Z",
        },
        {
            "k": "b",
            "n": 1,
            "window_start": "1970-01-12T13:46:40Z",
            "window_end": "1970-01-12T13:47:40Z",
        },
    ]
    assert [r["k"] for r in tick.records] == ["c"]
    assert impl.flush().records == []


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    for bad in ("", "5", "m5", "1h 2m", "0s"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


# ---------------------------------------------------------------- assertions


class Assertion:
    def __init__(self, expression: str, position: str) -> None:
        self.expression = expression
        self.position = position


def test_assert_step_names_each_failing_assertion() -> None:
    impl = AssertStep(
        [Assertion("record.salary >= 0", "features/p.dsl:3:5"), "record.team is not null"],
        ctx(),
    )

    outcome = run(impl, [{"salary": 1, "team": "t"}, {"salary": -1}, {"salary": 1}])

    assert outcome.records == [{"salary": 1, "team": "t"}]
    assert reasons(outcome) == [
        "assertion failed: record.salary >= 0; assertion failed: record.team is not null",
        "assertion failed: record.team is not null",
    ]
    assert {entry.step for entry in outcome.dlq} == {"Assert"}


def test_assert_step_reports_an_expression_it_cannot_evaluate() -> None:
    impl = AssertStep(["record.x > 0"], ctx(input_contract=None))

    assert reasons(run(impl, [{"x": "a"}])) == [
        "assertion error: record.x > 0: cannot compare a string with a number"
    ]


def test_assert_step_compile_errors_name_the_feature_position() -> None:
    with pytest.raises(StepConfigError, match=r"features/p\.dsl:3"):
        AssertStep([Assertion("record.salary >", "features/p.dsl:3:5")], ctx())


# ---------------------------------------------------------------- conservation

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)
records = st.lists(
    st.dictionaries(st.sampled_from(["id", "name", "salary", "team", "contact", "k"]), json_values)
    | json_values,
    max_size=20,
)


def every_step() -> list[StepImpl]:
    untyped = ctx(input_contract=None)
    return [
        step("ValidateContract", contract="person"),
        step("MaskPII"),
        make_step("Filter", {"when": "record.salary > 0"}, untyped),
        step("Select", fields=["id", "contact.email"]),
        step("Rename", mapping={"id": "name"}),
        step("Dedupe", keys=["id"]),
        step("Normalize", fields=["name", "contact.email"], ops=["email", "upper"]),
        step("Aggregate", by=["team"], metrics={"n": "count()", "s": "sum(salary)", "m": "min(k)"}),
        AssertStep(["record.salary is not null or record.name is not null"], untyped),
    ]


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(records, max_size=3))
def test_every_step_accounts_for_every_record(batches: list[list[Any]]) -> None:
    for impl in every_step():
        seen = 0
        emitted = 0
        for batch in batches:
            outcome = run(impl, batch)
            seen += outcome.consumed
            emitted += len(outcome.records)
            for entry in outcome.dlq:
                assert entry.reason and entry.step == impl.name
        flushed = impl.flush()
        assert (flushed.consumed, flushed.filtered, flushed.dlq) == (0, 0, [])
        if impl.name == "Aggregate":
            assert sum(r["n"] for r in flushed.records) == seen
        for record in flushed.records:
            assert isinstance(record, Mapping)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "g": st.sampled_from(["a", "b", None]),
                "v": st.integers(-1000, 1000) | st.floats(-1e6, 1e6),
            }
        ),
        max_size=40,
    )
)
def test_aggregate_matches_a_direct_computation(rows: list[dict[str, Any]]) -> None:
    impl = step(
        "Aggregate",
        by=["g"],
        metrics={"n": "count()", "s": "sum(v)", "lo": "min(v)", "hi": "max(v)"},
    )
    run(impl, rows)

    result = {r["g"]: r for r in impl.flush().records}

    assert list(result) == list(dict.fromkeys(r["g"] for r in rows))
    for group, row in result.items():
        values = [r["v"] for r in rows if r["g"] == group]
        assert row["n"] == len(values)
        assert row["s"] == pytest.approx(math.fsum(values), abs=1e-6)
        assert (row["lo"], row["hi"]) == (min(values), max(values))
