"""Contract diff rules: each change, its rule id, severity per perspective and position."""

from __future__ import annotations

import pytest

from runink.contracts.diff import ContractDiff, diff_contracts
from runink.yamlpos import parse_yaml

BASE = """\
apiVersion: v3.1.0
kind: DataContract
id: order
version: 1.2.0
status: active
schema:
  - name: orders
    physicalName: silver.orders
    logicalType: object
    physicalType: table
    properties:
      - name: order_id
        logicalType: string
        physicalType: varchar(12)
        required: true
        unique: true
        primaryKey: true
        primaryKeyPosition: 1
        logicalTypeOptions: {pattern: "^O[0-9]{6}$", maxLength: 12}
      - name: status
        logicalType: string
        required: true
        enum:
          - {value: placed}
          - {value: paid}
      - name: amount
        logicalType: number
        logicalTypeOptions: {minimum: 0, maximum: 1000}
        quality:
          - {name: positive, type: sql, query: "select count(*) from t where amount < 0"}
      - name: email
        logicalType: string
        classification: pii
        physicalName: email_address
"""


def diff(before: str, after: str) -> ContractDiff:
    old, problems = parse_yaml(before, "old.yaml")
    new, more = parse_yaml(after, "contracts/order.yaml")
    assert old is not None and new is not None and not problems and not more
    return diff_contracts(old, new)


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (change, rule, consumer severity, producer severity, position "file:line")
CASES = [
    (
        ("      - name: email\n", "      - name: email\n        unique: false\n"),
        None,
        None,
        None,
        None,
    ),
    (
        ("  - name: orders\n", "  - name: orders2\n"),
        "schema-removed",
        "error",
        "info",
        "old.yaml:7",
    ),
    (("status: active\n", "status: deprecated\n"), "status-changed", "warning", "info", ":5"),
    (
        ("physicalName: silver.orders", "physicalName: gold.orders"),
        "physical-name-changed",
        "error",
        "error",
        ":8",
    ),
    (
        ("    physicalType: table\n", "    physicalType: view\n"),
        "schema-physical-type-changed",
        "warning",
        "warning",
        ":10",
    ),
    (
        ("      - name: amount\n", "      - name: total\n"),
        "property-removed",
        "error",
        "info",
        "old.yaml:26",
    ),
    (
        ("logicalType: number", "logicalType: string"),
        "type-changed",
        "error",
        "error",
        ":27",
    ),
    (
        ("physicalType: varchar(12)", "physicalType: varchar(20)"),
        "physical-type-changed",
        "warning",
        "warning",
        ":14",
    ),
    (
        (
            "      - name: status\n        logicalType: string\n        required: true\n",
            "      - name: status\n        logicalType: string\n        required: false\n",
        ),
        "required-removed",
        "error",
        "info",
        ":22",
    ),
    (
        ("        classification: pii\n", "        classification: pii\n        required: true\n"),
        "required-added",
        "info",
        "error",
        ":34",
    ),
    (("        unique: true\n", ""), "unique-removed", "error", "info", ":12"),
    (
        ("        classification: pii\n", "        classification: pii\n        unique: true\n"),
        "unique-added",
        "info",
        "error",
        ":34",
    ),
    (
        ("        primaryKey: true\n        primaryKeyPosition: 1\n", ""),
        "primary-key-removed",
        "error",
        "info",
        ":12",
    ),
    (
        ("primaryKeyPosition: 1", "primaryKeyPosition: 2"),
        "primary-key-position-changed",
        "warning",
        "warning",
        ":18",
    ),
    (
        ("classification: pii", "classification: public"),
        "classification-changed",
        "warning",
        "warning",
        ":33",
    ),
    (
        ("          - {value: paid}\n", "          - {value: paid}\n          - {value: lost}\n"),
        "enum-values-added",
        "error",
        "info",
        ":23",
    ),
    (("          - {value: paid}\n", ""), "enum-values-removed", "info", "error", ":23"),
    (
        ("{minimum: 0, maximum: 1000}", "{minimum: 1, maximum: 1000}"),
        "minimum-tightened",
        "info",
        "error",
        ":28",
    ),
    (
        ("{minimum: 0, maximum: 1000}", "{minimum: -5, maximum: 1000}"),
        "minimum-loosened",
        "error",
        "info",
        ":28",
    ),
    (
        ("{minimum: 0, maximum: 1000}", "{minimum: 0, maximum: 10}"),
        "maximum-tightened",
        "info",
        "error",
        ":28",
    ),
    (("{minimum: 0, maximum: 1000}", "{minimum: 0}"), "maximum-loosened", "error", "info", ":28"),
    (("maxLength: 12}", "maxLength: 20}"), "max-length-loosened", "error", "info", ":19"),
    (
        ("maxLength: 12}", "maxLength: 12, minLength: 3}"),
        "min-length-tightened",
        "info",
        "error",
        ":19",
    ),
    (
        ('pattern: "^O[0-9]{6}$"', 'pattern: "^O[0-9]{7}$"'),
        "pattern-changed",
        "warning",
        "warning",
        ":19",
    ),
    (
        ('        logicalTypeOptions: {pattern: "^O[0-9]{6}$", maxLength: 12}\n', ""),
        "pattern-loosened",
        "error",
        "info",
        ":12",
    ),
    (
        ("name: positive, type: sql", "name: positive, type: library"),
        "quality-changed",
        "warning",
        "warning",
        ":30",
    ),
    (
        (
            "        quality:\n"
            "          - {name: positive, type: sql,"
            ' query: "select count(*) from t where amount < 0"}\n',
            "",
        ),
        "quality-removed",
        "warning",
        "info",
        "old.yaml:30",
    ),
    (
        (
            "        physicalName: email_address\n",
            "        physicalName: email_address\n"
            "        quality:\n          - {name: filled, type: library}\n",
        ),
        "quality-added",
        "info",
        "warning",
        ":36",
    ),
    (
        ("physicalName: email_address", "physicalName: email"),
        "physical-name-changed",
        "error",
        "error",
        ":34",
    ),
    (
        (
            "        physicalName: email_address\n",
            "        physicalName: email_address\n"
            "      - name: note\n        logicalType: string\n",
        ),
        "property-added",
        "info",
        "info",
        ":35",
    ),
    (
        (
            "        physicalName: email_address\n",
            "        physicalName: email_address\n"
            "      - name: note\n        logicalType: string\n        required: true\n",
        ),
        "property-added-required",
        "info",
        "error",
        ":35",
    ),
    (
        ("        enum:\n          - {value: placed}\n          - {value: paid}\n", ""),
        "enum-removed",
        "error",
        "info",
        ":20",
    ),
]


@pytest.mark.parametrize(
    ("change", "rule", "consumer", "producer", "where"),
    CASES[1:],
    ids=[c[1] + f"-{i}" for i, c in enumerate(CASES[1:])],
)
def test_each_rule_has_its_severity_per_perspective_and_position(
    change: tuple[str, str], rule: str, consumer: str, producer: str, where: str
) -> None:
    result = diff(BASE, edit(*change))
    found = [c for c in result.changes if c.rule == rule]
    assert found, [c.rule for c in result.changes]
    first = found[0]
    assert (first.consumer, first.producer) == (consumer, producer)
    assert first.severity("consumer") == consumer and first.severity("producer") == producer
    position = f"{first.position.file}:{first.position.line}"
    assert position.endswith(where), (position, where)
    if where.startswith(":"):
        assert first.position.file == "contracts/order.yaml"


def test_no_change_gives_no_changes_and_no_version_problem() -> None:
    result = diff(BASE, BASE)
    assert result.changes == ()
    assert result.version_problem("consumer") is None


def test_false_flag_equals_absent_flag() -> None:
    assert diff(BASE, edit(*CASES[0][0])).changes == ()


def test_nested_properties_and_array_items_are_compared_with_paths() -> None:
    nested = edit(
        "        physicalName: email_address\n",
        "        physicalName: email_address\n"
        "      - name: lines\n        logicalType: array\n        items:\n"
        "          name: line\n          logicalType: object\n          properties:\n"
        "            - name: sku\n              logicalType: string\n",
    )
    changed = nested.replace(
        "name: sku\n              logicalType: string",
        "name: sku\n              logicalType: integer",
    )
    result = diff(nested, changed)
    assert [(c.rule, c.path) for c in result.changes] == [("type-changed", "orders.lines[].sku")]


def test_breaking_change_without_major_bump_breaks_the_version_rule() -> None:
    after = edit("      - name: amount\n", "      - name: total\n")
    problem = diff(BASE, after).version_problem("consumer")
    assert problem is not None and problem.rule == "version-major-not-bumped"
    assert problem.severity("consumer") == "error"
    assert problem.position.line == 4


def test_major_bump_satisfies_the_version_rule() -> None:
    after = edit(
        "      - name: amount\n", "      - name: total\n", edit("version: 1.2.0", "version: 2.0.0")
    )
    result = diff(BASE, after)
    assert result.breaking("consumer")
    assert result.version_problem("consumer") is None


def test_producer_breaking_change_is_compatible_for_consumers() -> None:
    after = edit("          - {value: paid}\n", "", edit("version: 1.2.0", "version: 1.3.0"))
    result = diff(BASE, after)
    assert not result.breaking("consumer")
    assert result.breaking("producer")
    assert result.version_problem("consumer") is None
    problem = result.version_problem("producer")
    assert problem is not None and problem.rule == "version-major-not-bumped"


def test_compatible_change_with_same_version_is_a_warning() -> None:
    after = edit("physicalType: varchar(12)", "physicalType: varchar(20)")
    problem = diff(BASE, after).version_problem("consumer")
    assert problem is not None and problem.rule == "version-unchanged"
    assert problem.severity("consumer") == "warning"


def test_changed_id_is_reported_as_breaking() -> None:
    result = diff(BASE, edit("id: order", "id: purchase"))
    assert [c.rule for c in result.changes] == ["contract-id-changed"]
    assert result.breaking("consumer") and result.breaking("producer")
    assert result.version_problem("consumer") is None  # a new contract: no version to compare
