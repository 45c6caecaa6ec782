"""Checks across files: unique names, references that must resolve."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from runink.findings import Finding, Position, Severity, did_you_mean
from runink.repo.snapshot import RepoSnapshot

T = TypeVar("T")


def check_snapshot(snapshot: RepoSnapshot) -> list[Finding]:
    """Problems that only show when files are read together.

    A reference to a name whose own file failed validation (``snapshot.broken``)
    is not reported again: that file's findings say why.
    """
    findings: list[Finding] = []
    findings += _duplicates(
        snapshot.herds, lambda h: h.name, lambda h: Position(h.path), "herd", "metadata.name"
    )
    findings += _duplicates(
        snapshot.contracts, lambda c: c.id, lambda c: c.position, "contract id", "id"
    )
    settings = snapshot.settings
    herd_names = [h.name for h in snapshot.herds]
    known = {*herd_names, *(b.removeprefix("herd:") for b in snapshot.broken)}
    if settings is not None and known and settings.default_herd not in known:
        findings.append(
            Finding(
                "repo.unknown-herd",
                f"defaultHerd {settings.default_herd!r} is not defined in herds/",
                settings.position_of("defaultHerd"),
                "spec.defaultHerd",
                did_you_mean(settings.default_herd, herd_names)
                or f"defined herds: {', '.join(sorted(herd_names))}",
            )
        )
    feature_names = {
        f.path.removeprefix("features/").removesuffix(".dsl") for f in snapshot.features
    }
    for golden in snapshot.golden:
        if golden.feature not in feature_names:
            first = golden.input or golden.expected or golden.expected_dlq
            findings.append(
                Finding(
                    "golden.unknown-feature",
                    f"golden set {golden.path} names feature {golden.feature!r}, "
                    "which has no features/<name>.dsl",
                    Position(first.path if first else golden.path),
                    hint=did_you_mean(golden.feature, feature_names)
                    or "golden/<feature>/ takes the name of a features/<feature>.dsl file",
                    severity=Severity.WARNING,
                )
            )
    return findings


def _duplicates(
    items: Iterable[T],
    name_of: Callable[[T], str],
    where: Callable[[T], Position],
    what: str,
    key: str,
) -> list[Finding]:
    first: dict[str, Position] = {}
    findings = []
    for item in sorted(items, key=lambda i: where(i)):
        name = name_of(item)
        if name in first:
            findings.append(
                Finding(
                    "repo.duplicate",
                    f"{what} {name!r} is defined twice (first in {first[name]})",
                    where(item),
                    key,
                    f"rename one of them; a {what} must be unique in the repository",
                )
            )
        else:
            first[name] = where(item)
    return findings
