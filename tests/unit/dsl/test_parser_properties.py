"""Whatever text the parser is given, it returns a Feature or raises DslError; nothing else."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runink.dsl import DslError, Feature, compile_expression, parse_feature
from tests.unit.dsl.test_parser import DESIGN_EXAMPLE

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that matter to the grammar, plus some that do not belong anywhere.
DSL_ALPHABET = st.sampled_from(
    [
        *'@()[]{}=,:"\\#`\t \r\n\ufeff\x00-.0123456789eE',
        *["Feature:", "Scenario:", "Given ", "Then ", "And ", "@step", "@source", "true"],
        *["é", "日"],
    ]
)


def parses_or_raises_dsl_error(text: str) -> None:
    try:
        result = parse_feature(text, "fuzz.dsl")
    except DslError as err:
        assert err.findings
        for finding in err.findings:
            assert finding.line >= 1
            assert finding.column >= 1
            assert finding.message
    else:
        assert isinstance(result, Feature)


@PROPERTY
@given(st.lists(DSL_ALPHABET, max_size=80).map("".join))
def test_random_text_never_raises_anything_but_dsl_error(text: str) -> None:
    parses_or_raises_dsl_error(text)


@PROPERTY
@given(st.text(max_size=200))
def test_arbitrary_unicode_never_raises_anything_but_dsl_error(text: str) -> None:
    parses_or_raises_dsl_error(text)


@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    text = DESIGN_EXAMPLE
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        piece = draw(DSL_ALPHABET)
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        elif action == "replace":
            text = text[:at] + piece + text[at + 1 :]
        else:
            end = min(len(text), at + draw(st.integers(1, 60)))
            text = text[:end] + text[at:end] + text[end:]
    return text


@PROPERTY
@given(mutated_example())
def test_mutated_feature_text_never_raises_anything_but_dsl_error(text: str) -> None:
    parses_or_raises_dsl_error(text)


EXPR_ALPHABET = st.sampled_from(
    [
        *"()[].,'\"\\+-*/%<>=! 0123456789_",
        *["record", "a", "b", "and", "or", "not", "in", "is", "null", "matches", "**", "true"],
        *["len(", "coalesce(", "round(", "now()", "__class__", "'(a+)+'", "1e999", "99999999"],
    ]
)


@PROPERTY
@given(st.lists(EXPR_ALPHABET, max_size=40).map("".join))
def test_random_expressions_compile_or_raise_dsl_error(text: str) -> None:
    try:
        compiled = compile_expression(text, "fuzz.dsl", {"a": "number", "b": "string"})
    except DslError as err:
        assert err.findings
    else:
        assert compiled.source == text


def test_a_one_megabyte_feature_file_parses() -> None:
    scenario = (
        "  Scenario: Validate trades {n}\n"
        '    @source("jsonl://data/trades.jsonl", contract="trade_raw")\n'
        '    @step("MaskPII", fields=["trader_email", "desk", "notional"])  # masks\n'
        '    @sink("jsonl://out/large.jsonl", when="record.notional > 1000000")\n'
        '    Given the contract "trade" and some filler text to make the line long\n'
        "    Then `record.notional > 0`\n\n"
    )
    parts = ['@herd("finance")\nFeature: Big\n']
    size = 0
    n = 0
    while size < 1 << 20:
        part = scenario.format(n=n)
        parts.append(part)
        size += len(part)
        n += 1
    feature = parse_feature("".join(parts), "big.dsl")
    assert len(feature.scenarios) == n
    assert feature.scenarios[-1].tags[2].args == ("jsonl://out/large.jsonl",)
