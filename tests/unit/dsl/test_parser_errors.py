"""parse_feature's errors: each a DslError with the right code, line:col, message and hint."""

from __future__ import annotations

import pytest

from runink.dsl import DslError, parse_feature
from runink.findings import Finding, RuninkError

HEAD = "Feature: f\n  Scenario: s\n"


def errors(text: str) -> list[Finding]:
    with pytest.raises(DslError) as caught:
        parse_feature(text, "f.dsl")
    assert isinstance(caught.value, RuninkError)
    return list(caught.value.findings)


def where(finding: Finding) -> tuple[str, int, int]:
    return (finding.code, finding.line, finding.column)


def test_unterminated_string_names_the_quote_position() -> None:
    (error,) = errors(HEAD + '    @step("Filter", when="x > 1)\n')
    assert where(error) == ("dsl.syntax", 3, 26)
    assert "unterminated string" in error.message
    assert error.hint


def test_unknown_tags_are_all_reported_with_did_you_mean() -> None:
    found = errors(HEAD + '    @sorce("jsonl://a")\n    @stp("X")\n    @frobnicate\n')
    assert [where(f) for f in found] == [
        ("dsl.unknown-tag", 3, 5),
        ("dsl.unknown-tag", 4, 5),
        ("dsl.unknown-tag", 5, 5),
    ]
    assert found[0].message == "unknown tag '@sorce'"
    assert found[0].hint == "did you mean '@source'?"
    assert found[1].hint == "did you mean '@step'?"
    assert "known tags" in found[2].hint


@pytest.mark.parametrize(
    ("tag", "column", "expected"),
    [
        ("@source(42)", 13, "must be a URI string"),
        ('@source("no-scheme")', 13, "must be a URI with a scheme"),
        ('@source("jsonl://a", contract=1)', 35, "contract= must be a string"),
        ("@schedule(cron=5)", 20, "cron= must be a cron string"),
        ('@schedule(cron="every minute")', 20, "cron expression with 5 fields"),
        ('@slo(dlq_ratio="1%")', 20, "dlq_ratio= must be a number between 0 and 1"),
        ("@slo(dlq_ratio=2)", 20, "between 0 and 1"),
        ('@slo(freshness="2 hours")', 20, "freshness= must be a duration"),
        ("@requires(cpu=2)", 19, "cpu= must be a cpu quantity string"),
        ('@requires(memory="lots")', 22, "memory= must be a memory quantity"),
        ('@sink("jsonl://o", mode="merge")', 29, 'one of "append", "replace", "upsert"'),
        ('@step("X", after=3)', 22, "after= must be a step name or a list"),
        ('@window("5 minutes")', 13, "size must be a duration"),
        ('@affinity(zone=["a"])', 20, "zone= must be a string"),
        ("@golden(true)", 13, "path must be a string, found a boolean"),
    ],
)
def test_tag_argument_of_the_wrong_type_is_reported_at_the_argument(
    tag: str, column: int, expected: str
) -> None:
    (error,) = errors(HEAD + f"    {tag}\n")
    assert where(error) == ("dsl.tag-argument", 3, column)
    assert expected in error.message
    assert error.hint


def test_herd_takes_one_string() -> None:
    found = errors('@herd("a", "b")\n' + HEAD + '    @source("jsonl://a")\n')
    assert [where(f) for f in found] == [("dsl.tag-argument", 1, 12)]
    assert "takes 1 positional argument, found 2" in found[0].message
    (missing,) = errors("@herd\n" + HEAD + '    @source("jsonl://a")\n')
    assert where(missing) == ("dsl.tag-argument", 1, 1)
    assert "needs its name" in missing.message


def test_unknown_keyword_argument_has_did_you_mean() -> None:
    (error,) = errors(HEAD + '    @source("jsonl://a", contrct="x")\n')
    assert where(error) == ("dsl.tag-argument", 3, 26)
    assert error.hint == "did you mean 'contract'?"


def test_tag_without_arguments_given_some() -> None:
    (error,) = errors(HEAD + '    @stream("fast")\n')
    assert where(error) == ("dsl.tag-argument", 3, 13)


def test_expression_errors_inside_tag_arguments_point_into_the_string() -> None:
    (error,) = errors(HEAD + '    @sink("jsonl://o", when="record.x >> 1")\n')
    assert where(error) == ("expr.syntax", 3, 40)
    (error,) = errors(HEAD + '    @assert("record.__class__ == 1")\n')
    assert where(error) == ("expr.forbidden-name", 3, 21)


def test_backticked_assertion_is_compiled() -> None:
    (error,) = errors(HEAD + "    Then `record.a ** 100000 > 1`\n")
    assert where(error) == ("expr.limit", 3, 23)


def test_empty_scenario_is_an_error() -> None:
    text = "Feature: f\n  Scenario: empty\n  # only a comment\n  Scenario: full\n    Given x\n"
    (error,) = errors(text)
    assert where(error) == ("dsl.empty-scenario", 2, 3)
    assert "'empty'" in error.message


def test_duplicate_scenario_names_are_errors_ignoring_case_and_spacing() -> None:
    text = HEAD + "    Given a\n  Scenario: S\n    Given b\n  Scenario:   s \n    Given c\n"
    found = errors(text)
    assert [where(f) for f in found] == [
        ("dsl.duplicate-scenario", 4, 3),
        ("dsl.duplicate-scenario", 6, 3),
    ]
    assert "first at line 2" in found[0].message


def test_missing_names() -> None:
    found = errors("Feature:\n  Scenario:\n    Given a\n")
    assert [where(f) for f in found] == [("dsl.missing-name", 1, 1), ("dsl.missing-name", 2, 3)]


def test_duplicate_single_tags_and_schedule_with_stream() -> None:
    text = (
        HEAD
        + '    @dlq("jsonl://a")\n    @dlq("jsonl://b")\n'
        + '    @stream\n    @schedule(cron="@daily")\n'
    )
    found = errors(text)
    assert [where(f) for f in found] == [
        ("dsl.duplicate-tag", 4, 5),
        ("dsl.conflicting-tags", 5, 5),
    ]


def test_tag_placement() -> None:
    text = '@source("jsonl://a")\nFeature: f\n  Scenario: s\n    @herd("x")\n'
    found = errors(text)
    assert [where(f) for f in found] == [("dsl.tag-placement", 1, 1), ("dsl.tag-placement", 4, 5)]


def test_positional_after_keyword_and_repeated_keyword() -> None:
    found = errors(HEAD + '    @step(when="a", "X")\n    @step("X", a=1, a=2)\n')
    assert [where(f) for f in found] == [("dsl.tag-argument", 3, 21), ("dsl.tag-argument", 4, 21)]


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("", 1, 1, "expected 'Feature:'"),
        ("Feature: f\n", 1, 11, "unexpected end of file"),
        ("hello\n", 1, 1, "expected 'Feature:'"),
        ('Feature: f\n  @source("jsonl://a")\n  Scenario: s\n', 2, 3, "before the first"),
        (HEAD + "    free text\n", 3, 5, "expected a tag or a step line"),
        (HEAD + '    @step("x", [1, 2\n    Given x\n', 4, 5, "expected ',' or ']'"),
        (HEAD + '    @step("x"\n', 3, 14, "unexpected end of file"),
        (HEAD + '    @step("x" "y")\n', 3, 15, "unexpected '\"y\"': expected ')', ','"),
        (HEAD + '    @step("x", m={a 1})\n', 3, 21, "expected ':'"),
        (HEAD + "    @step(x=)\n", 3, 13, "a value is"),
        (HEAD + "Feature: again\n", 3, 1, "a second 'Feature:'"),
        (HEAD + "    @ step\n", 3, 5, "unexpected"),
        (HEAD + '    @step("\\uZZ")\n', 3, 12, "invalid escape"),
        ("Feature: x\rScenario: y\n", 1, 11, "carriage return"),
        (HEAD + "    @source('jsonl://a')\n", 3, 13, "double quotes"),
        (HEAD + "    @source(jsonl://a)\n", 3, 18, "quote text"),
        (HEAD + '    @step("A", strict=True)\n', 3, 23, "write true"),
        (HEAD + '    @step("A", x=None)\n', 3, 18, "have no null"),
        (HEAD + "    @step(" + "[" * 40 + "\n", 3, 42, "nest deeper than 32"),
    ],
)
def test_syntax_errors_say_what_was_found_and_expected(
    text: str, line: int, column: int, words: str
) -> None:
    (error,) = errors(text)
    assert (error.line, error.column) == (line, column), str(error)
    assert words in error.message + " " + error.hint, str(error)
    assert error.code == "dsl.syntax"


def test_error_text_has_file_line_col() -> None:
    with pytest.raises(DslError) as caught:
        parse_feature(HEAD + "    @sorce\n", "features/x.dsl")
    assert str(caught.value).startswith("features/x.dsl:3:5: error[dsl.unknown-tag]")
