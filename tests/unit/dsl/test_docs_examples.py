"""docs/dsl.md cannot rot: every example parses or compiles, and the tables name everything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runink.dsl import TAGS, compile_expression, parse_feature
from runink.dsl.expr import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_EXPRESSION_LENGTH,
    MAX_INT_BITS,
    MAX_MATCH_INPUT,
    MAX_NUMBER_LENGTH,
    MAX_REGEX_LENGTH,
)
from runink.dsl.parser import MAX_NESTING
from runink.dsl.tags import SINK_MODES
from runink.findings import Position
from runink.steps import BUILTIN_STEPS

DOC = Path(__file__).resolve().parents[3] / "docs" / "dsl.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[tuple[int, str]]:
    text = DOC.read_text("utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) == language:
            first_line = text.count("\n", 0, match.start(2)) + 1
            found.append((first_line, match.group(2)))
    return found


FEATURES = blocks("runink")
EXPRESSIONS = [
    (first + offset, line)
    for first, body in blocks("expr")
    for offset, line in enumerate(body.splitlines())
    if line.strip() and not line.lstrip().startswith("#")
]


def test_the_docs_have_examples_of_both_kinds() -> None:
    assert len(FEATURES) >= 4
    assert len(EXPRESSIONS) >= 10


@pytest.mark.parametrize(("line", "text"), FEATURES, ids=[f"line {f[0]}" for f in FEATURES])
def test_every_feature_example_parses(line: int, text: str) -> None:
    feature = parse_feature(text, f"docs/dsl.md@{line}")
    assert feature.scenarios


@pytest.mark.parametrize(
    ("line", "text"), EXPRESSIONS, ids=[f"line {e[0]}: {e[1][:40]}" for e in EXPRESSIONS]
)
def test_every_expression_example_compiles(line: int, text: str) -> None:
    compile_expression(text, Position("docs/dsl.md", line, 1))


def test_every_tag_function_and_builtin_step_is_documented() -> None:
    text = DOC.read_text("utf-8")
    for name in TAGS:
        assert f"| `@{name}` |" in text, name
    for name in FUNCTIONS:
        assert f"`{name}(" in text, name
    for name in BUILTIN_STEPS:
        assert f"| `{name}` |" in text, name
    for mode in SINK_MODES:
        assert f'`"{mode}"`' in text, mode


def test_documented_limits_match_the_code() -> None:
    text = DOC.read_text("utf-8")
    assert f"| expression length | {MAX_EXPRESSION_LENGTH} characters |" in text
    assert f"| nesting depth (brackets, operators) | {MAX_DEPTH} |" in text
    assert f"| number literals | {MAX_NUMBER_LENGTH} characters |" in text
    assert (
        f"absolute value up to {MAX_EXPONENT}; constant results up to {MAX_INT_BITS} bits" in text
    )
    assert f"| regex length | {MAX_REGEX_LENGTH} characters |" in text
    assert f"longer than {MAX_MATCH_INPUT} characters" in text
    assert f"Nesting is limited to {MAX_NESTING} levels." in text
