"""The built-in step catalogue: schemas are valid draft 2020-12, params are checked in place."""

from __future__ import annotations

import jsonschema
import pytest

from runink.dsl import parse_feature
from runink.findings import Finding, Position
from runink.steps import BUILTIN_STEPS, builtin_step, validate_params, validate_step_tag

DESIGN_STEPS = {
    "ValidateContract",
    "MaskPII",
    "Filter",
    "Select",
    "Rename",
    "Dedupe",
    "Normalize",
    "Aggregate",
}


def step_findings(tag_text: str, fields: dict[str, str] | None = None) -> list[Finding]:
    feature = parse_feature(f"Feature: f\n  Scenario: s\n    {tag_text}\n", "f.dsl")
    return validate_step_tag(feature.scenarios[0].tags[0], fields=fields)


def test_catalogue_holds_the_design_steps_with_valid_schemas() -> None:
    assert set(BUILTIN_STEPS) == DESIGN_STEPS
    for step in BUILTIN_STEPS.values():
        assert step.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(dict(step.schema))
        assert step.description
        assert step.parameters
    assert builtin_step("Filter") is BUILTIN_STEPS["Filter"]
    assert builtin_step("Nope") is None
    assert BUILTIN_STEPS["Filter"].expressions == ("when",)
    assert BUILTIN_STEPS["Select"].required == ("fields",)


@pytest.mark.parametrize(
    "tag",
    [
        '@step("ValidateContract", contract="trade")',
        '@step("MaskPII")',
        '@step("MaskPII", fields=["email"], method="tokenize")',
        '@step("Filter", when="record.amount > 0")',
        '@step("Select", fields=["a", "b"])',
        '@step("Rename", mapping={old: "new", "with space": "x"})',
        '@step("Dedupe", keys=["id"], after="Select")',
        '@step("Normalize", fields=["email"], ops=["trim", "email"])',
        '@step("Aggregate", by=["desk"], metrics={n: "count()", t: "sum(notional)"}, window="5m")',
        '@step("UserStep", anything=[1, {x: 2}])',
    ],
)
def test_valid_parameters_have_no_findings(tag: str) -> None:
    assert step_findings(tag) == []


@pytest.mark.parametrize(
    ("tag", "column", "words", "hint"),
    [
        (
            '@step("MaskPII", methd="hash")',
            22,
            "has no parameter 'methd'",
            "did you mean 'method'?",
        ),
        ('@step("MaskPII", method="hide")', 29, "'hide' is not one of", ""),
        ('@step("Normalize", fields=["a"], ops=["lowr"])', 43, "ops[0]: 'lowr'", "'lower'"),
        ('@step("Select", fields=["a", 3])', 34, "fields[1]: 3 is not of type 'string'", ""),
        ('@step("Select", fields=[])', 28, "should be non-empty", ""),
        ('@step("Select")', 5, "needs parameter 'fields'", "fields to keep"),
        ('@step("Rename", mapping={a: 1})', 33, "mapping.a: 1 is not of type", ""),
        ('@step("Aggregate", metrics={n: "median(x)"})', 36, "'median(x)' is not valid", ""),
        ('@step("Aggregate", metrics={n: "count()"}, window="5x")', 55, "window", ""),
        ('@step("ValidateContract", contract=3)', 40, "3 is not of type 'string'", ""),
        ('@step("Filter", when="amount >")', 35, "unexpected end of expression", ""),
    ],
)
def test_invalid_parameters_are_positioned(tag: str, column: int, words: str, hint: str) -> None:
    (finding,) = step_findings(tag)
    assert (finding.line, finding.column) == (3, column), str(finding)
    assert words in finding.message, str(finding)
    assert hint in finding.hint


def test_filter_expression_is_type_checked_against_the_contract() -> None:
    (finding,) = step_findings('@step("Filter", when="amout > 0")', {"amount": "number"})
    assert finding.code == "expr.unknown-field"
    assert (finding.line, finding.column) == (3, 27)
    assert finding.hint == "did you mean 'amount'?"


def test_validate_params_works_on_plain_data_and_ignores_user_steps() -> None:
    at = Position("f.dsl", 9, 9)
    found = validate_params("Dedupe", {"keys": "id"}, locate=lambda path: at)
    assert [f.code for f in found] == ["dsl.step-param"]
    assert validate_params("MyOwnStep", {"x": 1}, locate=lambda path: at) == []
    assert (
        validate_params("Dedupe", {"keys": ["id"], "depends_on": ["A"]}, locate=lambda p: at) == []
    )
