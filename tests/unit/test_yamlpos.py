"""Positioned YAML: YAML 1.2 typing, exact positions, hostile documents."""

from __future__ import annotations

from runink.yamlpos import parse_yaml


def test_yaml_11_surprises_stay_strings() -> None:
    doc, findings = parse_yaml("d: 2022-10-03\nc: NO\nt: 1:20\no: 010\nb: true\n", "f.yaml")
    assert not findings and doc is not None
    assert doc.data == {"d": "2022-10-03", "c": "NO", "t": "1:20", "o": 10, "b": True}


def test_positions_point_at_values_and_keys() -> None:
    doc, _ = parse_yaml("spec:\n  quota:\n    cpu: '2'\n  roles: [a, b]\n", "f.yaml")
    assert doc is not None
    assert (
        doc.position(("spec", "quota", "cpu")).line,
        doc.position(("spec", "quota", "cpu")).column,
    ) == (3, 10)
    assert doc.position(("spec", "quota", "cpu"), key=True).column == 5
    assert doc.position(("spec", "roles", 1)).column == 14
    # A missing key points at the nearest existing ancestor.
    assert doc.position(("spec", "quota", "memory")).line == 3


def test_duplicate_keys_are_reported_not_overwritten() -> None:
    _, findings = parse_yaml("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(f.code, f.line) for f in findings] == [("yaml.duplicate-key", 3)]
    assert "first defined on line 1" in findings[0].message


def test_alias_bomb_is_refused() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    doc, findings = parse_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert doc is None
    assert findings[0].code == "yaml.too-large"


def test_recursive_alias_is_an_error() -> None:
    _, findings = parse_yaml("a: &x [*x]\n", "f.yaml")
    assert findings[0].code == "yaml.recursive-alias"


def test_second_document_is_an_error_at_its_start() -> None:
    _, findings = parse_yaml("a: 1\n---\nb: 2\n", "f.yaml")
    assert findings[0].code == "yaml.multiple-documents"
    assert findings[0].line == 3


def test_explicit_python_tags_are_refused() -> None:
    _, findings = parse_yaml("a: !!python/object/apply:os.system ['id']\n", "f.yaml")
    assert findings and findings[0].code in ("yaml.syntax", "yaml.unsupported-tag")


def test_unterminated_flow_mentions_end_of_file() -> None:
    _, findings = parse_yaml("a: [1, 2\n", "f.yaml")
    assert findings[0].code == "yaml.syntax"
    assert "<stream end>" not in findings[0].message
