"""Contract changes between base and head, judged by the version rule."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runink.contracts.diff import ERROR, WARNING, Change, ContractDiff, diff_contracts, major_of
from runink.contracts.model import Contract
from runink.findings import Finding, Position, Severity
from runink.repo.snapshot import RepoSnapshot
from runink.yamlpos import YamlDocument, parse_yaml

Read = Callable[[str], str | None]


@dataclass(frozen=True)
class ContractReport:
    """One contract added, removed or changed, with its classified changes."""

    id: str
    file: str
    status: str
    old_version: str | None
    new_version: str | None
    changes: tuple[Change, ...] = ()
    breaking: bool = False
    version_ok: bool = True

    def to_dict(self, perspective: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "file": self.file,
            "status": self.status,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "breaking": self.breaking,
            "version_ok": self.version_ok,
            "changes": [c.to_dict(perspective) for c in self.changes],
        }


def _document(contract: Contract, read: Read) -> YamlDocument:
    text = read(contract.path)
    doc = parse_yaml(text, contract.path)[0] if text is not None else None
    return doc if doc is not None else YamlDocument(contract.path, contract.document, {}, {})


def audit_contracts(
    base: RepoSnapshot | None,
    head: RepoSnapshot,
    read_base: Read,
    read_head: Read,
    perspective: str,
) -> tuple[tuple[ContractReport, ...], list[Finding]]:
    """Reports for every contract that differs, and the findings of the version rule."""
    old = {c.id: c for c in (base.contracts if base else ())}
    new = {c.id: c for c in head.contracts}
    reports: list[ContractReport] = []
    findings: list[Finding] = []
    for cid in sorted(new.keys() - old.keys()):
        c = new[cid]
        if base is not None:
            reports.append(ContractReport(cid, c.path, "added", None, c.version))
    for cid in sorted(old.keys() - new.keys()):
        c = old[cid]
        reports.append(ContractReport(cid, c.path, "removed", c.version, None, breaking=True))
        findings.append(
            Finding(
                "contract.removed",
                f"contract {cid!r} ({c.path}) was removed: its consumers outside this "
                "repository lose it",
                Position(c.path),
                "id",
                "keep it with status: deprecated until its consumers have moved",
                Severity.WARNING,
            )
        )
    for cid in sorted(old.keys() & new.keys()):
        a, b = old[cid], new[cid]
        if a.sha == b.sha:
            continue
        diff = diff_contracts(_document(a, read_base), _document(b, read_head))
        if not diff.changes:
            continue
        problem = diff.version_problem(perspective)
        breaking = diff.breaking(perspective)
        reports.append(
            ContractReport(
                cid,
                b.path,
                "changed",
                a.version,
                b.version,
                diff.changes,
                breaking,
                problem is None or problem.severity(perspective) != ERROR,
            )
        )
        findings.extend(_findings(diff, problem, perspective))
    return tuple(reports), findings


def _findings(diff: ContractDiff, problem: Change | None, perspective: str) -> list[Finding]:
    findings: list[Finding] = []
    unbumped = problem is not None and problem.rule == "version-major-not-bumped"
    old_major = major_of(diff.old_version)
    target = f"{old_major + 1}.0.0" if old_major is not None else "a new major version"
    for change in diff.changes:
        severity = change.severity(perspective)
        if severity == ERROR and unbumped:
            findings.append(
                Finding(
                    f"contract.{change.rule}",
                    f"breaking change for {perspective}s without a major version bump: "
                    f"{change.message}",
                    change.position,
                    change.path,
                    f"raise version to {target} ({diff.version_position}), or undo the change",
                )
            )
        elif severity == WARNING:
            findings.append(
                Finding(
                    f"contract.{change.rule}",
                    f"may break {perspective}s: {change.message}",
                    change.position,
                    change.path,
                    "check the contract's readers and writers",
                    Severity.WARNING,
                )
            )
    if problem is not None and problem.rule == "version-unchanged":
        findings.append(
            Finding(
                "contract.version-unchanged",
                problem.message,
                problem.position,
                "version",
                "raise the minor or patch version for a compatible change",
                Severity.WARNING,
            )
        )
    return findings
