"""Compiled expressions, on any record, return a value or raise ExprRuntimeError; nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runink.dsl import DslError, ExprRuntimeError, compile_expression

EXPRESSIONS = [
    "a > b",
    "a == b or a != b",
    "a < b and b <= a",
    "a + b",
    "a - b * b",
    "a / b",
    "a % b",
    "a ** b",
    "-a",
    "a in b",
    "a not in b",
    "a matches '^x+$'",
    "a is null or b is not null",
    "not a",
    "len(a)",
    "lower(a) == upper(b)",
    "trim(a)",
    "abs(a)",
    "round(a, 2)",
    "round(a)",
    "coalesce(a, b)",
    "date(a) < today()",
    "timestamp(a) >= now()",
    "startswith(a, b) or endswith(a, b)",
    "a.b.c == 1",
    "[a, b] == [b, a]",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2026-11-23", "2026-11-23T10:00:00Z", "x", "", "2026-13-45"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
COMPILED = [compile_expression(text, "prop.dsl") for text in EXPRESSIONS]
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(range(len(COMPILED))), VALUES, VALUES)
def test_evaluation_returns_a_value_or_raises_expr_runtime_error(
    index: int, a: Any, b: Any
) -> None:
    compiled = COMPILED[index]
    try:
        compiled.evaluate({"a": a, "b": b}, now=NOW)
        compiled.test({"a": a, "b": b}, now=NOW)
    except ExprRuntimeError as err:
        assert err.reason
        assert err.position.file == "prop.dsl"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_compiles_or_raises_dsl_error(text: str) -> None:
    try:
        compile_expression(text, "prop.dsl")
    except DslError as err:
        assert err.findings
