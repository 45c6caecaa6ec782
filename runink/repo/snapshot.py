"""RepoSnapshot: one immutable view of a pipeline repository at a revision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runink.contracts.model import Contract
from runink.findings import Findings
from runink.repo.herd import Herd
from runink.repo.settings import RepositorySettings


@dataclass(frozen=True)
class SourceFile:
    """A text file kept as written (features, user step modules, golden data)."""

    path: str
    sha: str
    text: str


@dataclass(frozen=True)
class GoldenSet:
    """``golden/<feature>/<scenario>/``: input and expected records of one scenario."""

    feature: str
    scenario: str
    path: str
    input: SourceFile | None
    expected: SourceFile | None
    expected_dlq: SourceFile | None


@dataclass(frozen=True)
class Changes:
    """What differs from the revision the same loader read before (``base``)."""

    base: str
    paths: frozenset[str]


@dataclass(frozen=True)
class RepoSnapshot:
    """Everything Runink reads from a repository, each entry with its path and blob sha.

    ``findings`` holds every problem met while reading and validating it; entries
    that failed validation are left out of the typed collections.
    """

    root: str
    revision: str | None
    settings: RepositorySettings | None
    herds: tuple[Herd, ...] = ()
    contracts: tuple[Contract, ...] = ()
    features: tuple[SourceFile, ...] = ()
    steps: tuple[SourceFile, ...] = ()
    golden: tuple[GoldenSet, ...] = ()
    extra: tuple[SourceFile, ...] = ()
    files: Mapping[str, str] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)
    broken: frozenset[str] = frozenset()
    """Names declared by files that failed validation (``herd:<name>``,
    ``contract:<id>``): references to them are not reported again."""
    changes: Changes | None = field(default=None, compare=False)
    """Set when this snapshot was read as a change of its loader's previous one."""

    def herd(self, name: str) -> Herd | None:
        return next((h for h in self.herds if h.name == name), None)

    def contract(self, contract_id: str) -> Contract | None:
        return next((c for c in self.contracts if c.id == contract_id), None)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not self.findings.errors
