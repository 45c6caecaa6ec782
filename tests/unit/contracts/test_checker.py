"""The compiled record checker: every ODCS rule it enforces, named, and its edges."""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runink.contracts.checker import (
    MAX_PATTERN_INPUT,
    ContractCheckError,
    Violation,
    compile_checker,
    describe_violations,
    value_key,
)
from runink.contracts.load import build_contract
from runink.contracts.model import Contract
from runink.repo.loader import load_repo
from runink.yamlpos import parse_yaml

EXAMPLE_REPO = Path(__file__).resolve().parents[3] / "example-repo"


def contract_of(properties: list[dict[str, Any]], **extra: Any) -> Contract:
    """A contract with one schema object holding ``properties``, through the real loader."""
    document = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "things",
        "version": "1.0.0",
        "status": "active",
        "schema": extra.pop("schema", None) or [{"name": "things", "properties": properties}],
        **extra,
    }
    doc, findings = parse_yaml(yaml.safe_dump(document, sort_keys=False), "contracts/t.yaml")
    assert doc is not None, findings
    return build_contract(doc, "0" * 40)


def check(prop: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """The (field, rule) pairs one property reports for ``{"f": value}``."""
    checker = compile_checker(contract_of([{"name": "f", **prop}]))
    return [(v.field, v.rule) for v in checker.check({"f": value})]


@pytest.fixture(scope="module")
def trade() -> Contract:
    return next(c for c in load_repo(EXAMPLE_REPO).contracts if c.id == "trade")


def a_trade(**changes: Any) -> dict[str, Any]:
    record = {
        "trade_id": "T000001",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": 100,
        "price": 189.5,
        "notional": 18950.0,
        "currency": "USD",
        "trader_email": "alice.trader@bank.example",
        "traded_at": "2026-11-02T09:30:00Z",
    }
    record.update(changes)
    return record


# ---------------------------------------------------------------- the trade contract


def test_valid_trade_has_no_violation(trade: Contract) -> None:
    assert compile_checker(trade).check(a_trade()) == []


def test_every_violation_is_named_in_one_reason(trade: Contract) -> None:
    violations = compile_checker(trade).check(a_trade(side="HOLD", quantity=0))

    assert violations == [
        Violation("side", "enum", "'HOLD' is not one of BUY, SELL"),
        Violation("quantity", "minimum", "0 is less than the minimum 1"),
    ]
    assert describe_violations(violations) == (
        "side: 'HOLD' is not one of BUY, SELL; quantity: 0 is less than the minimum 1"
    )


def test_missing_and_null_required_fields_say_which(trade: Contract) -> None:
    record = a_trade(symbol=None)
    del record["side"]

    violations = compile_checker(trade).check(record)

    assert [str(v) for v in violations] == [
        "symbol: is required but null",
        "side: is required but missing",
    ]


def test_fields_the_contract_does_not_declare_are_allowed(trade: Contract) -> None:
    assert compile_checker(trade).check(a_trade(desk="rates", extra={"x": [1]})) == []


def test_a_record_that_is_not_an_object_is_one_violation(trade: Contract) -> None:
    violations = compile_checker(trade).check([1, 2])  # type: ignore[arg-type]

    assert violations == [Violation("", "logicalType", "expected an object, found an array")]


# ---------------------------------------------------------------- logical types


@pytest.mark.parametrize(
    ("logical", "good", "bad"),
    [
        ("string", ["", "x"], [1, True, ["x"], {"a": "b"}]),
        ("integer", [0, -3, 2**70], [True, 1.0, "1", Decimal(1)]),
        ("number", [0, 1.5, -2, Decimal("1.25")], [True, "1", math.nan, math.inf, Decimal("NaN")]),
        ("boolean", [True, False], [0, 1, "true"]),
        (
            "date",
            ["2026-11-02", date(2026, 1, 1)],
            [
                "2026-13-01",
                "2026-1-2",
                "20261102",
                datetime(2026, 1, 1),
                "\uff12\uff10\uff12\uff16-11-02",
                5,
            ],
        ),
        (
            "timestamp",
            [
                "2026-11-02T09:30:00Z",
                "2026-11-02T09:30:00.123456789+01:00",
                "2026-11-02 09:30z",
                "2026-11-02t09:30:00-05:30",
                datetime(2026, 1, 1, tzinfo=UTC),
            ],
            [
                "2026-11-02T09:30:00",
                "2026-11-02",
                "2026-11-02T25:00:00Z",
                "20261102T093000Z",
                "2026-11-02T09:30:00+0100",
                datetime(2026, 1, 1),
                1700000000,
            ],
        ),
        ("time", ["09:30", "09:30:00.5", "23:59:59+01:00", time(1, 2)], ["24:00", "9:30", 930]),
        ("object", [{}, {"a": 1}], [[], "x"]),
        ("array", [[], [1, "a"], (1,)], [{}, "abc"]),
    ],
)
def test_logical_types_accept_their_values_and_refuse_others(
    logical: str, good: list[Any], bad: list[Any]
) -> None:
    for value in good:
        assert check({"logicalType": logical}, value) == [], value
    for value in bad:
        assert check({"logicalType": logical}, value) == [("f", "logicalType")], value


def test_timestamp_without_timezone_option_accepts_naive_values() -> None:
    prop = {"logicalType": "timestamp", "logicalTypeOptions": {"timezone": False}}

    assert check(prop, "2026-11-02T09:30:00") == []
    assert check(prop, "2026-11-02T09:30:00Z") == []
    assert check(prop, "yesterday") == [("f", "logicalType")]


def test_a_property_without_a_type_takes_any_value_but_keeps_its_options() -> None:
    prop = {"logicalTypeOptions": {"maxLength": 2}}

    assert check(prop, 12345) == []
    assert check(prop, [1, 2, 3]) == []
    assert check(prop, "abc") == [("f", "maxLength")]


def test_a_type_violation_stops_the_other_rules_of_that_field() -> None:
    prop = {"logicalType": "integer", "logicalTypeOptions": {"minimum": 10}}

    assert check(prop, "5") == [("f", "logicalType")]


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "value", "rule"),
    [
        ({"minimum": 1}, 0, "minimum"),
        ({"maximum": 1}, 1.5, "maximum"),
        ({"exclusiveMinimum": 0}, 0, "exclusiveMinimum"),
        ({"exclusiveMaximum": 10}, 10, "exclusiveMaximum"),
        ({"multipleOf": 0.5}, 1.25, "multipleOf"),
    ],
)
def test_number_bounds_are_enforced(options: dict[str, Any], value: Any, rule: str) -> None:
    assert check({"logicalType": "number", "logicalTypeOptions": options}, value) == [("f", rule)]


def test_number_bounds_accept_the_values_inside() -> None:
    prop = {
        "logicalType": "number",
        "logicalTypeOptions": {"minimum": 1, "exclusiveMaximum": 10, "multipleOf": 0.1},
    }
    for value in (1, 1.1, 9.9, Decimal("2.5")):
        assert check(prop, value) == [], value


def test_integer_format_bounds_the_range() -> None:
    prop = {"logicalType": "integer", "logicalTypeOptions": {"format": "u8"}}

    assert check(prop, 255) == []
    assert check(prop, 256) == [("f", "format")]
    assert check(prop, -1) == [("f", "format")]


def test_string_length_and_pattern_options() -> None:
    prop = {
        "logicalType": "string",
        "logicalTypeOptions": {"minLength": 2, "maxLength": 4, "pattern": "^[A-Z]+"},
    }

    assert check(prop, "ABc") == []  # a pattern is searched, as in JSON Schema
    assert check(prop, "a") == [("f", "minLength"), ("f", "pattern")]
    assert check(prop, "ABCDE") == [("f", "maxLength")]


def test_pattern_digits_are_ascii_as_in_ecma_262() -> None:
    prop = {"logicalType": "string", "logicalTypeOptions": {"pattern": r"^\d+$"}}

    assert check(prop, "123") == []
    assert check(prop, "١٢٣") == [("f", "pattern")]  # Arabic-Indic digits


def test_pattern_refuses_strings_beyond_the_cap_without_matching_them() -> None:
    # (a+)+$ backtracks exponentially on a near miss; the cap keeps it from running.
    prop = {"logicalType": "string", "logicalTypeOptions": {"pattern": "^(a+)+$"}}
    checker = compile_checker(contract_of([{"name": "f", **prop}]))

    violations = checker.check({"f": "a" * (MAX_PATTERN_INPUT + 1) + "!"})

    assert [(v.rule, "characters long" in v.message) for v in violations] == [("pattern", True)]


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        (
            "email",
            ["a@b.co", "first.last+tag@mail.example.org"],
            ["a@b", "a b@c.de", "@b.co", "a@@b.co"],
        ),
        (
            "uuid",
            ["123e4567-e89b-12d3-a456-426614174000"],
            ["123e4567e89b12d3a456426614174000", "x"],
        ),
        ("uri", ["https://example.com/x?y=1", "urn:isbn:0451450523"], ["no scheme", "//x", ""]),
        ("ipv4", ["10.0.0.1"], ["::1", "10.0.0.256"]),
        ("ipv6", ["::1"], ["10.0.0.1"]),
        ("hostname", ["db-1.internal"], ["-bad.example", "a..b"]),
        ("password", ["anything at all"], []),
    ],
)
def test_string_formats(fmt: str, good: list[str], bad: list[str]) -> None:
    prop = {"logicalType": "string", "logicalTypeOptions": {"format": fmt}}
    for value in good:
        assert check(prop, value) == [], value
    for value in bad:
        assert check(prop, value) == [("f", "format")], value


def test_temporal_bounds_compare_moments_not_text() -> None:
    prop = {
        "logicalType": "timestamp",
        "logicalTypeOptions": {
            "minimum": "2026-01-01T00:00:00Z",
            "exclusiveMaximum": "2027-01-01T00:00:00Z",
        },
    }

    assert check(prop, "2026-01-01T01:00:00+01:00") == []  # = the minimum, in UTC
    assert check(prop, "2026-01-01T00:59:59+01:00") == [("f", "minimum")]
    assert check(prop, "2027-01-01T00:00:00Z") == [("f", "exclusiveMaximum")]


def test_date_bounds() -> None:
    prop = {"logicalType": "date", "logicalTypeOptions": {"maximum": "2026-12-31"}}

    assert check(prop, "2026-12-31") == []
    assert check(prop, "2027-01-01") == [("f", "maximum")]


def test_enum_values_keep_their_types() -> None:
    prop = {"enum": [{"value": 1}, {"value": "a"}]}

    assert check(prop, 1) == []
    assert check(prop, 1.0) == []  # the same JSON number
    assert check(prop, True) == [("f", "enum")]
    assert check(prop, "1") == [("f", "enum")]
    assert check(prop, [1]) == [("f", "enum")]


def test_array_options_and_object_options() -> None:
    array = {
        "logicalType": "array",
        "logicalTypeOptions": {"minItems": 1, "maxItems": 2, "uniqueItems": True},
    }
    assert check(array, [1, 2]) == []
    assert check(array, []) == [("f", "items")]
    assert check(array, [1, 2, 3]) == [("f", "items")]
    assert check(array, [{"a": 1}, {"a": 1}]) == [("f", "uniqueItems")]
    assert check(array, [1, True]) == []  # true is not 1

    obj = {"logicalType": "object", "logicalTypeOptions": {"maxProperties": 1, "required": ["k"]}}
    assert check(obj, {"k": 1}) == []
    assert check(obj, {"a": 1, "b": 2}) == [("f", "properties"), ("f", "required")]


# ---------------------------------------------------------------- nesting


def test_nested_objects_and_array_items_name_their_paths() -> None:
    contract = contract_of(
        [
            {
                "name": "customer",
                "logicalType": "object",
                "required": True,
                "properties": [
                    {
                        "name": "email",
                        "logicalType": "string",
                        "required": True,
                        "logicalTypeOptions": {"format": "email"},
                    },
                    {
                        "name": "address",
                        "logicalType": "object",
                        "properties": [{"name": "city", "logicalType": "string", "required": True}],
                    },
                ],
            },
            {
                "name": "lines",
                "logicalType": "array",
                "items": {
                    "logicalType": "object",
                    "properties": [
                        {"name": "sku", "logicalType": "string", "required": True},
                        {
                            "name": "qty",
                            "logicalType": "integer",
                            "logicalTypeOptions": {"minimum": 1},
                        },
                    ],
                },
            },
        ]
    )
    checker = compile_checker(contract)

    violations = checker.check(
        {
            "customer": {"email": "nope", "address": {}},
            "lines": [{"sku": "A", "qty": 1}, {"qty": 0}, "x"],
        }
    )

    assert [(v.field, v.rule) for v in violations] == [
        ("customer.email", "format"),
        ("customer.address.city", "required"),
        ("lines[1].sku", "required"),
        ("lines[1].qty", "minimum"),
        ("lines[2]", "logicalType"),
    ]


# ---------------------------------------------------------------- uniqueness


def test_a_repeated_primary_key_is_a_violation_within_one_checker(trade: Contract) -> None:
    checker = compile_checker(trade)

    assert checker.check(a_trade()) == []
    assert checker.check(a_trade(symbol="MSFT")) == [
        Violation(
            "trade_id", "primaryKey", "duplicate primary key 'T000001': already seen in this run"
        )
    ]
    assert compile_checker(trade).check(a_trade()) == []  # a new run starts afresh


def test_a_rejected_record_does_not_take_its_key(trade: Contract) -> None:
    checker = compile_checker(trade)

    assert [v.rule for v in checker.check(a_trade(side="HOLD"))] == ["enum"]
    assert checker.check(a_trade()) == []


def test_unique_fields_and_composite_primary_keys() -> None:
    contract = contract_of(
        [
            {
                "name": "region",
                "logicalType": "string",
                "primaryKey": True,
                "primaryKeyPosition": 2,
            },
            {"name": "id", "logicalType": "integer", "primaryKey": True, "primaryKeyPosition": 1},
            {"name": "email", "logicalType": "string", "unique": True},
        ]
    )
    checker = compile_checker(contract)

    assert checker.check({"region": "EU", "id": 1, "email": "a@x.io"}) == []
    assert checker.check({"region": "US", "id": 1}) == []
    assert checker.check({"region": "US", "id": 2, "email": None}) == []  # null is no value
    assert checker.check({"region": "US", "id": 3, "email": None}) == []
    duplicate = checker.check({"region": "EU", "id": 1, "email": "a@x.io"})
    assert [(v.field, v.rule) for v in duplicate] == [
        ("(id, region)", "primaryKey"),
        ("email", "unique"),
    ]
    assert "1, 'EU'" in duplicate[0].message
    assert [v.rule for v in checker.check({"region": "EU"})] == ["required"]


# ---------------------------------------------------------------- compile errors


def test_an_invalid_pattern_is_a_positioned_error() -> None:
    contract = contract_of(
        [{"name": "f", "logicalType": "string", "logicalTypeOptions": {"pattern": "("}}]
    )

    with pytest.raises(ContractCheckError) as caught:
        compile_checker(contract)

    assert "invalid pattern" in str(caught.value)
    assert caught.value.findings[0].file == "contracts/t.yaml"


def test_several_schema_objects_need_a_name() -> None:
    contract = contract_of(
        [],
        schema=[
            {"name": "a", "properties": [{"name": "x", "logicalType": "string", "required": True}]},
            {
                "name": "b",
                "properties": [{"name": "y", "logicalType": "integer", "required": True}],
            },
        ],
    )

    with pytest.raises(ContractCheckError, match="2 schema objects"):
        compile_checker(contract)
    with pytest.raises(ContractCheckError, match="no schema object 'c'"):
        compile_checker(contract, "c")
    assert [v.field for v in compile_checker(contract, "b").check({})] == ["y"]


def test_value_key_keeps_booleans_apart_from_numbers() -> None:
    assert value_key(True) != value_key(1)
    assert value_key(1) == value_key(1.0)
    assert value_key({"a": [1]}) == value_key({"a": [1]})
    assert value_key(("a", None)) != value_key(("a", "null"))


# ---------------------------------------------------------------- against a reference

RICH: list[dict[str, Any]] = [
    {
        "name": "id",
        "logicalType": "string",
        "required": True,
        "logicalTypeOptions": {"pattern": "^[a-c]{1,3}$"},
    },
    {
        "name": "count",
        "logicalType": "integer",
        "logicalTypeOptions": {"minimum": 0, "maximum": 10},
    },
    {
        "name": "ratio",
        "logicalType": "number",
        "logicalTypeOptions": {"exclusiveMinimum": 0, "exclusiveMaximum": 1},
    },
    {"name": "flag", "logicalType": "boolean", "required": True},
    {"name": "kind", "logicalType": "string", "enum": [{"value": "a"}, {"value": "b"}]},
    {"name": "day", "logicalType": "date", "logicalTypeOptions": {"minimum": "2020-01-01"}},
    {"name": "at", "logicalType": "timestamp"},
    {
        "name": "email",
        "logicalType": "string",
        "logicalTypeOptions": {"format": "email", "maxLength": 12},
    },
    {
        "name": "address",
        "logicalType": "object",
        "properties": [
            {
                "name": "city",
                "logicalType": "string",
                "required": True,
                "logicalTypeOptions": {"minLength": 2},
            },
            {"name": "zip", "logicalType": "integer"},
        ],
    },
    {
        "name": "tags",
        "logicalType": "array",
        "logicalTypeOptions": {"maxItems": 3},
        "items": {"logicalType": "string", "logicalTypeOptions": {"maxLength": 3}},
    },
    {"name": "anything"},
]


def _ref_type(logical: str | None, value: Any) -> bool:
    """Slow and literal: the type rules as the module docstring states them."""
    if logical is None:
        return True
    if logical == "string":
        return isinstance(value, str)
    if logical == "integer":
        return type(value) is int
    if logical == "number":
        return type(value) in (int, float) and math.isfinite(value)
    if logical == "boolean":
        return type(value) is bool
    if logical == "object":
        return isinstance(value, dict)
    if logical == "array":
        return isinstance(value, list)
    if logical == "date":
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            return False
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
        return True
    if logical == "timestamp":
        if not isinstance(value, str):
            return False
        shape = (
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}"
            r"(:[0-9]{2}(\.[0-9]{1,9})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
        )
        if not re.fullmatch(shape, value):
            return False
        text = re.sub(r"\.([0-9]{6})[0-9]+", r".\1", value.upper().replace("Z", "+00:00"))
        try:
            datetime.fromisoformat(text)
        except ValueError:
            return False
        return True
    raise AssertionError(logical)


def _ref_email(value: str) -> bool:
    if value.count("@") != 1 or len(value) > 254 or any(c.isspace() for c in value):
        return False
    local, domain = value.split("@")
    labels = domain.split(".")
    return 0 < len(local) <= 64 and len(labels) >= 2 and all(labels)


def _ref_value(prop: dict[str, Any], value: Any, path: str, found: list[tuple[str, str]]) -> None:
    logical = prop.get("logicalType")
    options = prop.get("logicalTypeOptions", {})
    if not _ref_type(logical, value):
        found.append((path, "logicalType"))
        return
    if logical == "string":
        if "minLength" in options and len(value) < options["minLength"]:
            found.append((path, "minLength"))
        if "maxLength" in options and len(value) > options["maxLength"]:
            found.append((path, "maxLength"))
        if "pattern" in options and not re.search(options["pattern"], value, re.ASCII):
            found.append((path, "pattern"))
        if options.get("format") == "email" and not _ref_email(value):
            found.append((path, "format"))
    if logical in ("integer", "number"):
        if "minimum" in options and not value >= options["minimum"]:
            found.append((path, "minimum"))
        if "exclusiveMinimum" in options and not value > options["exclusiveMinimum"]:
            found.append((path, "exclusiveMinimum"))
        if "maximum" in options and not value <= options["maximum"]:
            found.append((path, "maximum"))
        if "exclusiveMaximum" in options and not value < options["exclusiveMaximum"]:
            found.append((path, "exclusiveMaximum"))
    if logical == "date" and "minimum" in options and value < options["minimum"]:
        found.append((path, "minimum"))  # ISO dates order as text
    if logical == "array" and "maxItems" in options and len(value) > options["maxItems"]:
        found.append((path, "items"))
    if "enum" in prop and value not in [e["value"] for e in prop["enum"]]:
        found.append((path, "enum"))
    for child in prop.get("properties", []):
        _ref_field(child, value, f"{path}.{child['name']}", found)
    if "items" in prop:
        for i, item in enumerate(value):
            if item is not None:
                _ref_value(prop["items"], item, f"{path}[{i}]", found)


def _ref_field(
    prop: dict[str, Any], record: dict[str, Any], path: str, found: list[tuple[str, str]]
) -> None:
    value = record.get(prop["name"])
    if value is None:
        if prop.get("required"):
            found.append((path, "required"))
        return
    _ref_value(prop, value, path, found)


def reference(record: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for prop in RICH:
        _ref_field(prop, record, prop["name"], found)
    return found


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@functools.cache
def rich_contract() -> Contract:
    return contract_of(RICH)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, json_values)


timestamps = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.isoformat().replace("+00:00", "Z"))

records = st.fixed_dictionaries(
    {},
    optional={
        "id": maybe(st.text(alphabet="abcd", min_size=0, max_size=4)),
        "count": maybe(st.integers(-2, 12)),
        "ratio": maybe(st.floats(-0.5, 1.5) | st.sampled_from([0, 1, 0.0, 1.0])),
        "flag": maybe(st.booleans()),
        "kind": maybe(st.sampled_from(["a", "b", "c", "A"])),
        "day": maybe(
            st.dates().map(date.isoformat) | st.sampled_from(["2020-02-30", "2019-12-31"])
        ),
        "at": maybe(
            timestamps | st.sampled_from(["2026-11-02T09:30:00", "2026-11-02T09:30+02:00"])
        ),
        "email": maybe(st.emails() | st.sampled_from(["a@b", "x y@z.io", "ab@cd.ef"])),
        "address": maybe(
            st.fixed_dictionaries(
                {}, optional={"city": maybe(st.text(max_size=3)), "zip": maybe(st.integers())}
            )
        ),
        "tags": maybe(st.lists(maybe(st.text(max_size=4)), max_size=5)),
        "anything": json_values,
        "extra": json_values,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_checker_agrees_with_a_slow_reference(record: dict[str, Any]) -> None:
    checker = compile_checker(rich_contract())

    got = [(v.field, v.rule) for v in checker.check(record)]

    assert got == reference(record)


@settings(max_examples=300, deadline=None)
@given(record=st.dictionaries(st.sampled_from([p["name"] for p in RICH]), json_values))
def test_checker_never_raises_on_any_json_record(record: dict[str, Any]) -> None:
    violations = compile_checker(rich_contract()).check(record)

    assert all(v.field and v.rule and v.message for v in violations)
