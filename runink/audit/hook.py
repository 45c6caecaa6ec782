"""``runi hook pre-receive``: audit pushes to the tracked branch before git accepts them.

git runs the hook in the bare repository with one ``<old> <new> <ref>`` line per
updated ref on stdin; a non-zero exit rejects the whole push. Only pushes to the
branch ``runink.yaml`` names (``spec.branch``, default ``main``) are audited, read
from the pushed commit and from the commit it replaces, so a push cannot dodge the
audit by renaming the branch. The source controller stays the last gate.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runink.audit.git import ZERO_SHA
from runink.audit.run import AuditReport, audit
from runink.repo.settings import DEFAULT_BRANCH
from runink.yamlpos import parse_yaml


@dataclass(frozen=True)
class HookResult:
    """The audits of one push (ref -> report) and the refs left alone, with why."""

    reports: tuple[tuple[str, AuditReport], ...] = ()
    skipped: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for _, r in self.reports)


def tracked_branch(repo: Path, commit: str) -> str | None:
    """``spec.branch`` of runink.yaml at ``commit``; None when the commit has no runink.yaml."""
    shown = subprocess.run(
        ["git", "show", f"{commit}:runink.yaml"],
        cwd=repo,
        capture_output=True,
        check=False,
        timeout=60,
    )
    if shown.returncode != 0:
        return None
    doc, _ = parse_yaml(shown.stdout.decode("utf-8", "replace"), "runink.yaml")
    spec = doc.data.get("spec") if doc is not None and isinstance(doc.data, dict) else None
    branch = spec.get("branch") if isinstance(spec, dict) else None
    return str(branch) if isinstance(branch, str) else DEFAULT_BRANCH


def pre_receive(repo: Path, lines: Iterable[str], *, golden: bool = True) -> HookResult:
    """Audit every pushed ref that is the tracked branch; the rest pass untouched."""
    reports: list[tuple[str, AuditReport]] = []
    skipped: list[str] = []
    problems: list[str] = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            problems.append(f"unexpected input line {line.strip()!r}: want '<old> <new> <ref>'")
            continue
        old, new, ref = parts
        if new == ZERO_SHA:
            skipped.append(f"{ref}: deleted, nothing to audit")
            continue
        tracked = {tracked_branch(repo, new) or DEFAULT_BRANCH}
        if old != ZERO_SHA:
            tracked.add(tracked_branch(repo, old) or DEFAULT_BRANCH)
        if ref not in {f"refs/heads/{b}" for b in tracked}:
            skipped.append(f"{ref}: not the tracked branch ({', '.join(sorted(tracked))})")
            continue
        base = None if old == ZERO_SHA else old
        reports.append((ref, audit(repo, base, new, golden=golden)))
    return HookResult(tuple(reports), tuple(skipped), tuple(problems))
