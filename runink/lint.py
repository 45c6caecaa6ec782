"""``runi lint``: every problem in a pipeline repository, at once, with positions."""

from __future__ import annotations

from pathlib import Path

from runink.findings import Findings
from runink.repo import load_repo


def lint(path: Path, rev: str | None = None) -> Findings:
    """All findings for the repository at ``path`` (or its commit ``rev``), sorted."""
    return load_repo(path, rev).findings
