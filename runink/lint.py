"""``runi lint``: every problem in a pipeline repository, at once, with positions."""

from __future__ import annotations

from pathlib import Path

from runink.compiler import Compiler
from runink.findings import Findings
from runink.repo import load_repo


def lint(path: Path, rev: str | None = None) -> Findings:
    """All findings for the repository at ``path`` (or its commit ``rev``), sorted.

    Files are validated one by one and together, then every feature is parsed and
    compiled, so a clean lint means every pipeline would compile.
    """
    snapshot = load_repo(path, rev)
    compiled = Compiler().compile(snapshot)
    return Findings.of([*snapshot.findings, *compiled.findings])
