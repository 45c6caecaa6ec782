"""The checker's batch fast path: it accepts a batch only when every record would pass
``check`` one by one, and takes the unique keys ``check`` would take."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runink.contracts.checker import compile_checker
from tests.unit.contracts.test_checker import contract_of

# One property per fast-path rule, and some the fast path leaves to check().
PROPERTIES: list[dict[str, Any]] = [
    {
        "name": "id",
        "logicalType": "string",
        "primaryKey": True,
        "logicalTypeOptions": {"pattern": "^R[0-9]+$", "maxLength": 6},
    },
    {"name": "code", "logicalType": "string", "logicalTypeOptions": {"minLength": 2}},
    {"name": "unit", "logicalType": "string", "enum": ["C", "F"]},
    {
        "name": "count",
        "logicalType": "integer",
        "required": True,
        "logicalTypeOptions": {"minimum": 0, "format": "i8"},
    },
    {
        "name": "value",
        "logicalType": "number",
        "logicalTypeOptions": {"exclusiveMinimum": 0, "maximum": 10},
    },
    {"name": "flag", "logicalType": "boolean"},
    {"name": "step", "logicalType": "number", "logicalTypeOptions": {"multipleOf": 0.5}},
    {"name": "day", "logicalType": "date"},
    {"name": "email", "logicalType": "string", "unique": True},
    {"name": "anything"},
]

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-200, max_value=200),
    st.floats(min_value=-1, max_value=12),
    st.sampled_from([float("nan"), float("inf"), 0.0, 10.0]),
    st.sampled_from(["R1", "R22", "R1234567", "X1", "C", "F", "c", "", "2024-02-30", "a@b"]),
    st.sampled_from(["2024-01-31", "x@y.org", Decimal("1.5")]),
)
RECORD = st.dictionaries(st.sampled_from([p["name"] for p in PROPERTIES]), VALUES)
GOOD = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["R1", "R2", "R3", "R44", "R555"]),
        "count": st.integers(min_value=0, max_value=127),
    },
    optional={
        "code": st.sampled_from(["ab", "abc"]),
        "unit": st.sampled_from(["C", "F"]),
        "value": st.floats(min_value=0.5, max_value=10),
        "flag": st.booleans(),
        "step": st.sampled_from([0, 1.5, 2]),
        "day": st.sampled_from(["2024-01-31"]),
        "anything": VALUES,
    },
)


def one_by_one(records: list[Any]) -> bool:
    checker = compile_checker(contract_of(PROPERTIES))
    return all(not checker.check(r) for r in records)


# Values at and beyond each property's rules: the fast path must refuse exactly these.
EDGES: dict[str, list[Any]] = {
    "id": ["R1234567", "X1", "R", 5, None, "R9"],
    "code": ["a", "", 1, "abcd"],
    "unit": ["c", "K", None, True, "F"],
    "count": [-1, 128, 127, 0, 1.0, True, None, -129],
    "value": [0, 0.0, 10, 10.0, 10.5, float("nan"), float("inf"), Decimal("1.5"), True],
    "flag": [1, "true", None, False],
    "step": [0.25, 1.5, 3, -0.5],
    "day": ["2024-02-30", "2024-1-1", "2024-01-31"],
    "email": ["a@b", "c@d"],
    "anything": [None, 1, "x", [1]],
}


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid batches with a few fields changed to edge values, or arbitrary records."""
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        return draw(st.lists(RECORD, max_size=4))
    records = draw(st.lists(GOOD, min_size=1, max_size=5, unique_by=lambda r: r["id"]))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        at = draw(st.integers(min_value=0, max_value=len(records) - 1))
        field = draw(st.sampled_from(sorted(EDGES)))
        records[at] = {**records[at], field: draw(st.sampled_from(EDGES[field]))}
    return records


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_a_batch_is_accepted_at_once_exactly_when_every_record_passes(
    records: list[dict[str, Any]],
) -> None:
    assert compile_checker(contract_of(PROPERTIES)).all_valid(records) == one_by_one(records)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(GOOD, max_size=5, unique_by=lambda r: r["id"]))
def test_plain_valid_batches_take_the_fast_path(records: list[dict[str, Any]]) -> None:
    # Plain JSON values of the declared types never need the record-by-record check.
    plain = [{k: v for k, v in r.items() if k != "anything"} for r in records]
    assert compile_checker(contract_of(PROPERTIES)).all_valid(plain)


def test_an_accepted_batch_takes_its_keys_and_a_refused_one_takes_none() -> None:
    checker = compile_checker(contract_of(PROPERTIES))
    assert checker.all_valid([{"id": "R1", "count": 1}, {"id": "R2", "count": 2}])
    assert [v.rule for v in checker.check({"id": "R1", "count": 3})] == ["primaryKey"]
    # A duplicate inside the batch refuses it whole, and nothing of it is remembered.
    assert not checker.all_valid([{"id": "R7", "count": 1}, {"id": "R7", "count": 2}])
    assert checker.check({"id": "R7", "count": 1}) == []


def test_a_batch_holding_a_non_object_is_left_to_the_record_check() -> None:
    checker = compile_checker(contract_of(PROPERTIES))
    assert not checker.all_valid([{"id": "R1", "count": 1}, ["not", "an", "object"]])
    assert checker.check({"id": "R1", "count": 1}) == []


@pytest.mark.parametrize(
    ("field", "value"), [(field, value) for field, values in EDGES.items() for value in values]
)
def test_every_edge_value_is_judged_in_a_batch_as_record_by_record(field: str, value: Any) -> None:
    records = [
        {"id": "R1", "count": 1, "value": 5.0, "unit": "C", "email": "c@d"},
        {"id": "R2", "count": 2, "code": "ab", "step": 1.5, "flag": True},
    ]
    records[1][field] = value
    assert compile_checker(contract_of(PROPERTIES)).all_valid(records) == one_by_one(records)
