"""An audit report as people and CI systems read it: text, Markdown, JUnit, annotations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from runink.audit.run import AuditReport
from runink.findings import Finding, Severity

#: GitHub refuses comments over 65,536 characters; stay well below with the note.
MARKDOWN_LIMIT = 60_000
#: GitHub shows at most 10 annotations of each kind per step.
MAX_ANNOTATIONS = 10


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "work tree"


def summary(report: AuditReport) -> str:
    """One line: verdict and counts."""
    errors = len(report.findings.errors)
    warnings = len(report.findings) - errors
    failed = sum(not g.passed for g in report.golden)
    verdict = "PASS" if report.ok else "FAIL"
    return (
        f"audit {verdict}: {errors} error(s), {warnings} warning(s); "
        f"{len(report.affected)} affected pipeline(s); "
        f"{len(report.golden) - failed}/{len(report.golden)} golden test(s) passed"
    )


def text(report: AuditReport) -> str:
    """The human report (plain text, one section per concern)."""
    base = _short(report.base) if report.base else "nothing (new branch)"
    lines = [f"runi audit {report.root}: {base} -> {_short(report.head)}"]
    if report.findings:
        lines.append("")
        lines.append("findings:")
        for f in _ordered(report.findings):
            lines.append(f"  {f}")
    lines.append("")
    lines.append(f"contracts ({report.perspective} perspective):")
    if not report.contracts:
        lines.append("  no contract changed")
    for c in report.contracts:
        version = f"{c.old_version or '-'} -> {c.new_version or '-'}"
        verdict = "breaking" if c.breaking else "compatible"
        if c.status == "changed" and c.breaking:
            verdict += ", major version raised" if c.version_ok else ", MAJOR VERSION NOT RAISED"
        lines.append(f"  {c.id} ({c.file}) {c.status}, {version}, {verdict}")
        for change in c.changes:
            severity = change.severity(report.perspective)
            lines.append(
                f"    {change.position}: {severity} [{change.rule}] {change.path}: {change.message}"
            )
    lines.append("")
    lines.append("affected pipelines:")
    if not report.affected:
        lines.append("  none")
    for pipeline in report.affected:
        lines.append(f"  {pipeline} ({report.reasons.get(pipeline, '')})")
    lines.append("")
    lines.append("golden tests:")
    if not report.golden:
        lines.append("  none run")
    for g in report.golden:
        lines.append(f"  {'PASS' if g.passed else 'FAIL'} {g.pipeline} ({g.golden})")
        lines.extend(f"       {line}" for line in g.lines)
    lines.append("")
    lines.append("after merge the controllers would:")
    desired = report.desired
    if desired.empty:
        lines.append("  change nothing")
    lines.extend(f"  add    {p}" for p in desired.added)
    lines.extend(f"  prune  {p}" for p in desired.removed)
    for plan_change in desired.changed:
        lines.append(f"  update {plan_change.pipeline}")
        lines.extend(f"           {c}" for c in plan_change.changes)
    for herd in desired.herds:
        lines.append(f"  {herd.action} herd {herd.herd}")
        lines.extend(f"           {c}" for c in herd.changes)
    lines.append("")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.severity is not Severity.ERROR, f.sort_key()))


def _md(text_value: str) -> str:
    return text_value.replace("|", "\\|").replace("\n", " ")


def markdown(report: AuditReport, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment / job summary, cut below ``limit`` characters with a note."""
    icon = "✅" if report.ok else "❌"
    parts = [f"## {icon} Runink audit\n\n{summary(report)}\n"]
    if report.findings:
        rows = ["| severity | where | code | message |", "|---|---|---|---|"]
        rows += [
            f"| {f.severity.value} | `{f.position}` | `{f.code}` | {_md(f.message)} |"
            for f in _ordered(report.findings)
        ]
        parts.append("### Findings\n\n" + "\n".join(rows) + "\n")
    if report.contracts:
        rows = ["| contract | status | version | breaking | changes |", "|---|---|---|---|---|"]
        for c in report.contracts:
            rows.append(
                f"| `{c.id}` | {c.status} | {c.old_version or '-'} → {c.new_version or '-'} | "
                f"{'yes' if c.breaking else 'no'} | {len(c.changes)} |"
            )
        details = [
            f"- `{ch.position}` **{ch.severity(report.perspective)}** `{ch.rule}` {_md(ch.message)}"
            for c in report.contracts
            for ch in c.changes
        ]
        parts.append(
            f"### Contracts ({report.perspective} perspective)\n\n"
            + "\n".join(rows)
            + "\n\n"
            + "\n".join(details)
            + "\n"
        )
    affected = "\n".join(f"- `{p}` ({report.reasons.get(p, '')})" for p in report.affected)
    parts.append("### Affected pipelines\n\n" + (affected or "_none_") + "\n")
    if report.golden:
        lines = []
        for g in report.golden:
            lines.append(f"- {'✅' if g.passed else '❌'} `{g.pipeline}` ({g.golden})")
            if g.lines:
                lines.append("\n  ```\n" + "\n".join(f"  {x}" for x in g.lines) + "\n  ```")
        parts.append("### Golden tests\n\n" + "\n".join(lines) + "\n")
    desired = report.desired
    lines = [f"- add `{p}`" for p in desired.added]
    lines += [f"- prune `{p}`" for p in desired.removed]
    for change in desired.changed:
        lines.append(f"- update `{change.pipeline}`: " + "; ".join(_md(c) for c in change.changes))
    for herd in desired.herds:
        lines.append(
            f"- {herd.action} herd `{herd.herd}`"
            + (": " + "; ".join(_md(c) for c in herd.changes) if herd.changes else "")
        )
    parts.append("### After merge\n\n" + ("\n".join(lines) or "_no change_") + "\n")
    body = "\n".join(parts)
    if len(body) <= limit:
        return body
    note = (
        f"\n\n_… report truncated at {limit:,} characters (GitHub's limit is 65,536); "
        "run `runi audit -o json` for all of it._\n"
    )
    cut = body[: limit - len(note)]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return cut + note


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: AuditReport, root: str = "") -> list[str]:
    """GitHub workflow commands, errors first, at most 10 (what GitHub shows per step).

    ``root`` is the pipeline repository's path inside the git checkout, so files
    point at the right place in the PR.
    """
    lines = []
    for f in _ordered(report.findings)[:MAX_ANNOTATIONS]:
        kind = "error" if f.severity is Severity.ERROR else "warning"
        file = f"{root.rstrip('/')}/{f.file}" if root and root != "." else f.file
        title = _escape_property(f"runink {f.code}")
        message = _escape_data(f.message + (f" (hint: {f.hint})" if f.hint else ""))
        lines.append(
            f"::{kind} file={_escape_property(file)},line={f.line},col={f.column},"
            f"title={title}::{message}"
        )
    return lines


def junit(report: AuditReport) -> bytes:
    """JUnit XML: one suite of checks (findings by file) and one of golden tests."""
    root = ET.Element("testsuites", name="runink audit")
    checks = ET.SubElement(root, "testsuite", name="runink audit checks")
    by_file: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_file.setdefault(f.file, []).append(f)
    files = sorted({*by_file, *(c.file for c in report.contracts)})
    failures = 0
    for file in files or ["repository"]:
        case = ET.SubElement(checks, "testcase", classname="audit", name=file)
        errors = [f for f in by_file.get(file, []) if f.severity is Severity.ERROR]
        if errors:
            failures += 1
            failure = ET.SubElement(case, "failure", message=str(errors[0]))
            failure.text = "\n".join(str(f) for f in errors)
        warnings = [f for f in by_file.get(file, []) if f.severity is not Severity.ERROR]
        if warnings:
            ET.SubElement(case, "system-out").text = "\n".join(str(f) for f in warnings)
    checks.set("tests", str(max(1, len(files))))
    checks.set("failures", str(failures))
    tests = ET.SubElement(root, "testsuite", name="runink golden (affected)")
    for g in report.golden:
        case = ET.SubElement(tests, "testcase", classname="golden", name=g.pipeline)
        if not g.passed:
            failure = ET.SubElement(case, "failure", message=g.lines[0] if g.lines else "failed")
            failure.text = "\n".join(g.lines)
    tests.set("tests", str(len(report.golden)))
    tests.set("failures", str(sum(not g.passed for g in report.golden)))
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml
