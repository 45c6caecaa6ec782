"""What the compiler looks things up in: a repository's herds, contracts, user steps.

Every lookup is also a cache key: ``key -> sha`` of what answered it (None when
nothing did), so a cached Plan is reused only while every answer it got is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runink.contracts.model import Contract
from runink.findings import Finding
from runink.repo.herd import Herd
from runink.repo.snapshot import GoldenSet, RepoSnapshot
from runink.steps.discover import DiscoveredStep, discover_all


@dataclass(frozen=True)
class RepoIndex:
    """Name -> definition maps of one snapshot, built once per compile."""

    default_herd: str | None
    herds: Mapping[str, Herd]
    contracts: Mapping[str, Contract]
    user_steps: Mapping[str, DiscoveredStep]
    module_shas: Mapping[str, str]
    golden: Mapping[str, GoldenSet]
    settings_sha: str | None
    step_findings: tuple[Finding, ...] = field(default=())
    broken: frozenset[str] = frozenset()

    def answer(self, key: str) -> str | None:
        """The sha that answers lookup ``key`` now (see module docstring)."""
        kind, _, name = key.partition(":")
        # The file's path is part of the answer: the same text moved to another file
        # (or a duplicate name answered by another file) changes what a Plan came from.
        if kind == "herd":
            herd = self.herds.get(name)
            return f"{herd.path}@{herd.sha}" if herd else None
        if kind == "contract":
            contract = self.contracts.get(name)
            return f"{contract.path}@{contract.sha}" if contract else None
        if kind == "step":
            user = self.user_steps.get(name)
            return self.module_shas.get(user.module) if user else None
        if kind == "golden":
            golden = self.golden.get(name)
            if golden is None:
                return None
            files = (golden.input, golden.expected, golden.expected_dlq)
            return ",".join(f.sha if f else "-" for f in files)
        if kind == "settings":
            return self.settings_sha
        raise ValueError(f"unknown lookup key {key!r}")


def build_index(snapshot: RepoSnapshot) -> RepoIndex:
    """Index ``snapshot`` for compiling (user steps found by reading, not importing)."""
    discovery = discover_all((m.path, m.text) for m in snapshot.steps)
    settings = snapshot.settings
    return RepoIndex(
        default_herd=settings.default_herd if settings else None,
        herds={h.name: h for h in snapshot.herds},
        contracts={c.id: c for c in snapshot.contracts},
        user_steps={s.name: s for s in discovery.steps},
        module_shas={m.path: m.sha for m in snapshot.steps},
        golden={g.path: g for g in snapshot.golden},
        settings_sha=settings.sha if settings else None,
        step_findings=discovery.findings,
        broken=snapshot.broken,
    )
