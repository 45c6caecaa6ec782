"""Report rendering: the Markdown cap, annotation escaping and order, JUnit structure."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from runink.audit import AuditReport, github_annotations, junit, markdown
from runink.audit.render import MAX_ANNOTATIONS
from runink.findings import Finding, Findings, Position, Severity


def report_with(findings: list[Finding]) -> AuditReport:
    return AuditReport(
        root="repo",
        base="a" * 40,
        head="b" * 40,
        perspective="consumer",
        findings=Findings.of(findings),
    )


def many(count: int) -> list[Finding]:
    return [
        Finding(
            "compile.unknown-step",
            f"unknown step number {i} " + "x" * 80,
            Position(f"features/f{i:05d}.dsl", 3, 5),
            severity=Severity.WARNING if i % 2 else Severity.ERROR,
        )
        for i in range(count)
    ]


def test_markdown_is_capped_below_githubs_comment_limit_with_a_note() -> None:
    body = markdown(report_with(many(5000)))
    assert len(body) < 65_536
    assert "report truncated" in body and "runi audit -o json" in body


def test_small_markdown_is_not_truncated() -> None:
    body = markdown(report_with(many(3)))
    assert "truncated" not in body
    assert body.count("| `compile.unknown-step` |") == 3


def test_annotations_put_errors_first_and_stop_at_ten() -> None:
    lines = github_annotations(report_with(many(30)))
    assert len(lines) == MAX_ANNOTATIONS
    assert all(line.startswith("::error ") for line in lines)


def test_annotation_messages_and_files_are_escaped() -> None:
    finding = Finding("x.y", "50% done\nnext line", Position("a,b:c.yaml", 2, 3))
    (line,) = github_annotations(report_with([finding]), root="pipelines")
    assert line.startswith("::error file=pipelines/a%2Cb%3Ac.yaml,line=2,col=3,")
    assert line.endswith("::50%25 done%0Anext line")


def test_junit_has_a_failing_case_per_file_with_errors() -> None:
    root = ET.fromstring(junit(report_with(many(4))))
    checks = root.find("testsuite[@name='runink audit checks']")
    assert checks is not None
    assert checks.get("tests") == "4" and checks.get("failures") == "2"
