"""``runi audit``: one pull-request check from base to head.

Lint and compile of what the change touches, contract changes under the version
rule, the pipelines it affects (decided by comparing compiled Plans), their golden
tests, and what the controllers would do after merge. Nothing is started but the
golden runs' slices.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runink.audit.contracts import ContractReport, audit_contracts
from runink.audit.desired import DesiredDiff, desired_diff
from runink.audit.git import GitRepo, ListedTree, SubsetTree
from runink.audit.golden import GoldenOutcome, run_affected
from runink.audit.scope import Reader, Scope, matches, plan_scope
from runink.compiler import Compiler, CompileResult, Plan
from runink.findings import Finding, Findings
from runink.repo.loader import load_tree
from runink.repo.snapshot import RepoSnapshot
from runink.repo.sources import DirectoryTree, Tree


@dataclass(frozen=True)
class AuditReport:
    """Everything one audit found; ``ok`` when no finding is an error."""

    root: str
    base: str | None
    head: str | None
    perspective: str
    findings: Findings
    affected: tuple[str, ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)
    contracts: tuple[ContractReport, ...] = ()
    golden: tuple[GoldenOutcome, ...] = ()
    desired: DesiredDiff = field(default_factory=DesiredDiff)
    full: bool = False
    features_compiled: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings.errors

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the ``-o json`` form)."""
        return {
            "ok": self.ok,
            "base": self.base,
            "head": self.head,
            "perspective": self.perspective,
            "findings": [f.to_dict() for f in self.findings],
            "affected": list(self.affected),
            "reasons": dict(self.reasons),
            "contracts": [c.to_dict(self.perspective) for c in self.contracts],
            "golden": [g.to_dict() for g in self.golden],
            "desired": self.desired.to_dict(),
            "scope": {"full": self.full, "features_compiled": self.features_compiled},
            "seconds": round(self.seconds, 3),
        }


def audit(
    path: Path,
    base: str | None,
    head: str | None = None,
    *,
    golden: bool = True,
    perspective: str | None = None,
    workers: int | None = None,
) -> AuditReport:
    """Audit the change from commit ``base`` to ``head`` (None: the work tree at ``path``).

    ``base`` None audits the whole head tree as new (a new branch). Raises
    :class:`runink.findings.RuninkError` when there is nothing to compare (not git,
    unknown revision).
    """
    started = time.perf_counter()
    repo = GitRepo(path)
    try:
        head_commit = repo.resolve(head) if head else None
        base_commit = repo.resolve(base) if base else None
        root = path.resolve()
        head_reader = Reader(repo, head_commit, root)
        scope = Scope(frozenset(), None, None, "no base: the whole tree is new")
        if base_commit is not None:
            scope = plan_scope(repo, Reader(repo, base_commit, root), head_reader)
        head_tree = _tree(repo, head_commit, path, scope.head_specs)
        base_snapshot = None
        if base_commit is not None:
            base_snapshot = load_tree(_tree(repo, base_commit, path, scope.base_specs))
        head_snapshot = load_tree(head_tree)
        base_compiled = Compiler().compile(base_snapshot) if base_snapshot else None
        head_compiled = Compiler().compile(head_snapshot)
        if perspective is None:
            settings = head_snapshot.settings
            perspective = settings.contract_perspective if settings else "consumer"
        findings: list[Finding] = [*head_snapshot.findings, *head_compiled.findings]
        desired, reasons = desired_diff(
            base_snapshot,
            base_compiled.plans if base_compiled else (),
            head_snapshot,
            head_compiled.plans,
        )
        reasons = _more_reasons(reasons, desired, base_snapshot, head_snapshot, head_compiled)
        contracts, contract_findings = audit_contracts(
            base_snapshot,
            head_snapshot,
            Reader(repo, base_commit, root).text if base_commit else (lambda p: None),
            head_reader.text,
            perspective,
        )
        findings.extend(contract_findings)
        affected = [p for p in head_compiled.plans if p.pipeline in reasons]
        outcomes: tuple[GoldenOutcome, ...] = ()
        if golden:

            def read(rel: str) -> bytes | None:
                raw = head_tree.read(rel)
                return None if isinstance(raw, Finding) else raw.data

            repo_dir = path.resolve() if head_commit is None else None
            outcomes = run_affected(affected, head_snapshot, repo_dir, read, workers)
            findings.extend(o.finding() for o in outcomes if not o.passed)
        return AuditReport(
            root=str(path),
            base=base_commit,
            head=head_commit,
            perspective=perspective,
            findings=Findings.of(findings),
            affected=tuple(sorted(reasons)),
            reasons=dict(sorted(reasons.items())),
            contracts=contracts,
            golden=outcomes,
            desired=desired,
            full=scope.full,
            features_compiled=head_compiled.stats.features
            + (base_compiled.stats.features if base_compiled else 0),
            seconds=time.perf_counter() - started,
        )
    finally:
        repo.close()


def _tree(repo: GitRepo, commit: str | None, path: Path, specs: frozenset[str] | None) -> Tree:
    """One side's files: a commit read through git, or the work tree; limited to ``specs``."""
    if commit is not None:
        return ListedTree(repo, commit, repo.listing(commit, specs))
    tree = DirectoryTree(path)
    if specs is None:
        return tree
    return SubsetTree(tree, [p for p in tree.paths() if matches(p, specs)])


def _golden_signatures(snapshot: RepoSnapshot | None) -> dict[str, tuple[str, ...]]:
    if snapshot is None:
        return {}
    return {
        g.path: tuple(f.sha if f else "-" for f in (g.input, g.expected, g.expected_dlq))
        for g in snapshot.golden
    }


def _more_reasons(
    reasons: dict[str, str],
    desired: DesiredDiff,
    base: RepoSnapshot | None,
    head: RepoSnapshot,
    compiled: CompileResult,
) -> dict[str, str]:
    """Pipelines affected without a Plan change: their herd or golden set changed."""
    result = dict(reasons)
    changed_herds = {h.herd for h in desired.herds if h.action != "removed"}
    old_golden, new_golden = _golden_signatures(base), _golden_signatures(head)
    plan: Plan
    for plan in compiled.plans:
        if plan.pipeline in result:
            continue
        if plan.herd in changed_herds:
            result[plan.pipeline] = f"herd {plan.herd} changed"
        elif plan.golden and old_golden.get(plan.golden) != new_golden.get(plan.golden):
            result[plan.pipeline] = "golden set changed"
    return result
