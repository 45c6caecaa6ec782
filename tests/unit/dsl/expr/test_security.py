"""Hostile expressions are refused at compile time, each with a positioned error."""

from __future__ import annotations

import pytest

from runink.dsl import DslError, compile_expression
from runink.dsl.expr import MAX_EXPRESSION_LENGTH, regex_problem
from runink.findings import Position

HOSTILE = [
    ("__import__('os').system('id')", "expr.forbidden-name", 1),
    ("().__class__", "expr.syntax", 2),
    ("record.__class__", "expr.forbidden-name", 8),
    ("record.a.__globals__", "expr.forbidden-name", 10),
    ("record['__class__']", "expr.forbidden-name", 8),
    ("x.__class__.__bases__[0].__subclasses__()", "expr.forbidden-name", 3),
    ("lower.__call__('x')", "expr.forbidden-name", 7),
    ("10 ** 1000000000", "expr.limit", 7),
    ("2 ** -1000000000", "expr.limit", 6),
    ("(2 ** 1000) ** 5", "expr.limit", 13),
    ('"a" matches "(a+)+$"', "expr.regex", 13),
    ("x matches '(a*)*'", "expr.regex", 11),
    ("x matches '(a|a)*'", "expr.regex", 11),
    ("x matches '(?:\\w+\\s?)+$'", "expr.regex", 11),
    ("x matches '(a)\\1'", "expr.regex", 11),
    ("x matches '" + "a" * 600 + "'", "expr.regex", 11),
    ("x matches '(unclosed'", "expr.regex", 11),
    ("(" * 100 + "1" + ")" * 100, "expr.limit", 49),
    ("[" * 100 + "]" * 100, "expr.limit", 49),
    ("not " * 100 + "x", "expr.limit", 193),
    ("- " * 100 + "1", "expr.limit", 97),
    ("1" * 100, "expr.limit", 1),
    ("x" * (1 << 20), "expr.limit", 1),
    ("lambda: 1", "expr.syntax", 7),
    ("x; import os", "expr.syntax", 2),
    ("exec('1')", "expr.unknown-function", 1),
    ("eval('1')", "expr.unknown-function", 1),
    ("getattr(x, 'y')", "expr.unknown-function", 1),
    ("'a' * 1000000000", "expr.type", 5),
    ("f'{x}'", "expr.syntax", 2),
]


@pytest.mark.parametrize(("text", "code", "column"), HOSTILE, ids=[h[0][:30] for h in HOSTILE])
def test_hostile_expression_is_rejected_at_compile_time_with_a_position(
    text: str, code: str, column: int
) -> None:
    with pytest.raises(DslError) as caught:
        compile_expression(text, Position("features/evil.dsl", 7, 1))
    codes = [(f.code, f.line, f.column) for f in caught.value.findings]
    assert (code, 7, column) in codes, caught.value


def test_length_limit_is_checked_before_parsing() -> None:
    text = "a and " * (MAX_EXPRESSION_LENGTH // 6) + "b" * 10
    with pytest.raises(DslError, match="the limit is"):
        compile_expression(text, "f.dsl")


@pytest.mark.parametrize(
    "pattern",
    [r"^[A-Z]{3}$", r"^\d+(\.\d+)?$", r"(?i)^buy|sell$", r"^(ab){1,5}$", r"(?:abc)+", r"[(a+)+]"],
)
def test_ordinary_regexes_are_accepted(pattern: str) -> None:
    assert regex_problem(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    [r"(a+)+", r"(a*)*", r"(a|a)*", r"((a+))+", r"(a{1,3}){2,}", r"(?P<x>a)(?P=x)", r"(\d?)+"],
)
def test_catastrophic_regexes_are_refused(pattern: str) -> None:
    assert regex_problem(pattern) is not None


def test_the_expression_package_calls_no_eval_exec_compile_or_getattr() -> None:
    import ast
    from pathlib import Path

    import runink.dsl.expr

    forbidden = {"eval", "exec", "compile", "getattr", "setattr", "__import__", "globals"}
    for path in Path(runink.dsl.expr.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in forbidden, f"{path.name}:{node.lineno}"
