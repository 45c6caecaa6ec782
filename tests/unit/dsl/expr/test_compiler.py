"""compile_expression: semantics, null handling, contract type checks and positions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from runink.dsl import CompiledExpr, DslError, ExprRuntimeError, compile_expression
from runink.findings import Finding, Position

FIELDS = {
    "notional": "number",
    "qty": "integer",
    "side": "string",
    "active": "boolean",
    "trade_date": "date",
    "booked_at": "timestamp",
    "tags": "array",
    "trader": "object",
    "trader.email": "string",
    "meta": "object",
}
RECORD: dict[str, Any] = {
    "notional": 1500.5,
    "qty": 3,
    "side": " Buy ",
    "active": True,
    "trade_date": "2026-11-20",
    "booked_at": "2026-11-20T10:00:00Z",
    "tags": ["fx", "spot"],
    "trader": {"email": "ann@example.com"},
    "meta": {"source": "desk"},
}
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def value(text: str, record: dict[str, Any] | None = None) -> Any:
    compiled = compile_expression(text, "f.dsl", FIELDS)
    return compiled.evaluate(RECORD if record is None else record, now=NOW)


def errors(text: str, fields: dict[str, str] | None = FIELDS, **kw: bool) -> list[Finding]:
    with pytest.raises(DslError) as caught:
        compile_expression(text, Position("f.dsl", 3, 10), fields, **kw)
    return list(caught.value.findings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("record.notional > 1000", True),
        ("notional > 1000", True),
        ("qty * 2 + 1", 7),
        ("qty - 1 - 1", 1),
        ("2 ** 3 ** 2", 512),
        ("-qty", -3),
        ("7 / 2", 3.5),
        ("7 % 4", 3),
        ("(1 + 2) * 3", 9),
        ("trim(side) == 'Buy'", True),
        ("lower(trim(side)) in ['buy', 'sell']", True),
        ("upper('é')", "É"),
        ("'fx' in tags", True),
        ("'x' not in tags", True),
        ("'ex' in trader.email", True),
        ("'source' in meta", True),
        ("trader.email matches '^[a-z]+@example\\.com$'", True),
        ("side matches '^\\d+$'", False),
        ("len(tags) == 2 and len(side) == 5", True),
        ("abs(-2.5)", 2.5),
        ("round(notional)", 1500),
        ("round(2.345, 2)", 2.35),
        ("coalesce(meta.missing, qty, 0)", 3),
        ("startswith(trader.email, 'ann') and endswith(trader.email, '.com')", True),
        ("trade_date < today()", True),
        ("trade_date == date('2026-11-20')", True),
        ("booked_at < now()", True),
        ("timestamp('2026-11-20T10:00:00') == booked_at", True),
        ("trade_date >= '2026-01-01'", True),
        ("today()", date(2026, 11, 23)),
        ("meta.source == 'desk'", True),
        ("record['side'] != 'x'", True),
        ("not active or qty > 100", False),
        ("true and not false", True),
        ("[1, qty]", (1, 3)),
        ("'a' + 'b'", "ab"),
        ("1e3", 1000.0),
    ],
)
def test_evaluates(text: str, expected: Any) -> None:
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("missing > 1", False),
        ("missing == 1", False),
        ("missing != 1", False),
        ("missing < 1 or missing >= 1", False),
        ("missing is null", True),
        ("missing is not null", False),
        ("missing in [1, 2]", False),
        ("missing not in [1, 2]", False),
        ("missing matches 'a'", False),
        ("not missing", True),
        ("missing + 1", None),
        ("-missing", None),
        ("len(missing)", None),
        ("coalesce(missing, 'default')", "default"),
        ("missing.deeper.still", None),
    ],
)
def test_missing_fields_are_null_and_null_comparisons_are_false(text: str, expected: Any) -> None:
    compiled = compile_expression(text, "f.dsl")
    assert compiled.evaluate({"missing": None}, now=NOW) == expected
    assert compiled.evaluate({}, now=NOW) == expected


def test_path_through_a_non_object_is_null() -> None:
    assert compile_expression("a.b", "f.dsl").evaluate({"a": "text"}) is None


def test_compiled_expression_reports_fields_used_and_source() -> None:
    compiled = compile_expression("record.trader.email matches 'x' and qty > 1", "f.dsl", FIELDS)
    assert isinstance(compiled, CompiledExpr)
    assert compiled.fields_used == frozenset({"trader.email", "qty"})
    assert compiled.source == "record.trader.email matches 'x' and qty > 1"
    assert compiled.result_type == "boolean"


def test_test_treats_null_as_false_and_refuses_non_booleans() -> None:
    assert compile_expression("a", "f.dsl").test({"a": None}) is False
    assert compile_expression("a > 1", "f.dsl").test({"a": 2}) is True
    with pytest.raises(ExprRuntimeError, match="must be true or false"):
        compile_expression("a", "f.dsl").test({"a": 3})


@pytest.mark.parametrize(
    ("text", "record", "words"),
    [
        ("a - 1", {"a": "x"}, "cannot take a string and a number"),
        ("a / 0", {"a": 1}, "division by zero"),
        ("a % 0", {"a": 1}, "division by zero"),
        ("a < 1", {"a": "x"}, "cannot compare a string with a number"),
        ("a and true", {"a": 1}, "expected true or false"),
        ("a ** b", {"a": 2, "b": 2000}, "exponent"),
        ("a ** b", {"a": 1000, "b": 1000}, "bits"),
        ("a ** 0.5", {"a": -4}, "fractional power"),
        ("a matches 'x'", {"a": "x" * 70000}, "reads at most"),
        ("a matches 'x'", {"a": 5}, "needs a string"),
        ("lower(a)", {"a": 5}, "expected a string"),
        ("date(a)", {"a": "not a date"}, "not an ISO date"),
        ("round(a, 99)", {"a": 1.5}, "0 to 15 digits"),
        ("a in b", {"a": 1, "b": 5}, "'in' needs a list"),
        ("a * a * a * a * a", {"a": 10**900}, "bits"),
    ],
)
def test_runtime_errors_are_expr_runtime_errors(
    text: str, record: dict[str, Any], words: str
) -> None:
    compiled = compile_expression(text, Position("f.dsl", 2, 5))
    with pytest.raises(ExprRuntimeError, match=words) as caught:
        compiled.evaluate(record, now=NOW)
    assert caught.value.position.file == "f.dsl"


def test_unknown_field_with_did_you_mean_at_its_position() -> None:
    (error,) = errors("notional > 0 and nottional < 5")
    assert (error.code, error.line, error.column) == ("expr.unknown-field", 3, 27)
    assert error.hint == "did you mean 'notional'?"


def test_unknown_nested_field_and_field_of_a_scalar() -> None:
    found = errors("trader.emial == 'x' or side.length > 1")
    assert [(f.code, f.column) for f in found] == [
        ("expr.unknown-field", 10),
        ("expr.unknown-field", 33),
    ]
    assert found[0].hint == "did you mean 'trader.email'?"
    assert "is a string" in found[1].message


def test_fields_of_an_object_without_known_subfields_are_allowed() -> None:
    compile_expression("meta.anything.deeper == 1", "f.dsl", FIELDS)


def test_without_a_contract_any_field_is_allowed() -> None:
    compiled = compile_expression("whatever.x > 1", "f.dsl", None)
    assert compiled.fields_used == frozenset({"whatever.x"})


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("side > 1", 15, "cannot compare a string with a number"),
        ("notional == 'x'", 19, "cannot compare a number with a string"),
        ("active < true", 17, "does not order a booleans"),
        ("notional == null", 19, "with null is always false"),
        ("side + 1 == 'x'", 15, "'+' joins two strings"),
        ("side * 2 == 'x'", 15, "takes numbers, found a string"),
        ("-side == 'x'", 10, "takes a number"),
        ("notional in 5", 22, "needs a list"),
        ("notional matches 'x'", 10, "takes a string on its left"),
        ("side matches side", 23, "string literal regex"),
        ("not side", 14, "expected true or false"),
        ("lower(notional) == 'x'", 16, "takes a string as argument 1"),
        ("len(1, 2) == 1", 10, "takes 1 argument(s), found 2"),
        ("lenght(side) == 1", 10, "unknown function"),
        ("record == 1", 10, "'record' alone"),
        ("trade_date > 5", 21, "cannot compare a date with a number"),
    ],
)
def test_type_errors_are_positioned(text: str, column: int, words: str) -> None:
    found = errors(text)
    assert any(f.column == column and words in f.message for f in found), found
    assert all(f.line == 3 for f in found)


def test_condition_must_be_boolean_when_asked() -> None:
    (error,) = errors("notional + 1", boolean=True)
    assert error.code == "expr.type"
    assert "a condition must be true or false" in error.message
    compile_expression("notional + 1", "f.dsl", FIELDS)


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("a >", 13, "unexpected end of expression"),
        ("a = 1", 12, "unexpected character '='"),
        ("a && b", 12, "unexpected character '&'"),
        ("'abc", 10, "unterminated string"),
        ('"abc', 10, "unterminated string"),
        ("a < b < c", 16, "unexpected '<'"),
        ("(a > 1", 16, "unexpected end of expression"),
        ("f(", 12, "unexpected end"),
        ("", 10, "empty expression"),
        ("a.", 12, "unexpected end"),
    ],
)
def test_syntax_errors_are_positioned(text: str, column: int, words: str) -> None:
    (error,) = errors(text, None)
    assert (error.line, error.column) == (3, column), str(error)
    assert words in error.message


def test_multi_line_expression_positions() -> None:
    (error,) = errors("a > 1 and\n  nope > 2", {"a": "number"})
    assert (error.line, error.column) == (4, 3)


def test_keywords_can_be_reached_as_fields_with_brackets() -> None:
    compiled = compile_expression("record['in'] == 1 and record['my field'] == 2", "f.dsl")
    assert compiled.evaluate({"in": 1, "my field": 2}) is True
    assert compiled.fields_used == frozenset({"in", "my field"})


def test_long_flat_sums_evaluate_without_recursion() -> None:
    compiled = compile_expression("1" + " + 1" * 1000, "f.dsl")
    assert compiled.evaluate({}) == 1001


def test_now_defaults_to_the_current_time() -> None:
    result = compile_expression("now()", "f.dsl").evaluate({})
    assert isinstance(result, datetime)
    assert result.tzinfo is not None
