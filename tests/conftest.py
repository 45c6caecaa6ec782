"""Fixtures shared by every test: real pipeline repositories in tmp dirs, real git."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_REPO = ROOT / "example-repo"
SHARED_SPECS = ROOT.parent / "shared" / "specs"


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with a fixed identity; return stdout."""
    result = subprocess.run(
        ["git", "-c", "user.name=Runink Test", "-c", "user.email=test@runink.dev", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.strip()


def eventually(
    check: Callable[[], Any], timeout: float = 90.0, what: str = "", poll: float = 0.1
) -> Any:
    """The first truthy value of ``check()``, polled until ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not reached in time: {what}"
        time.sleep(poll)


def commit_all(repo: Path, message: str = "change") -> str:
    """Commit the whole work tree (initialising git if needed); return the sha."""
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A private copy of example-repo/ that a test may change."""
    target = tmp_path / "repo"
    shutil.copytree(EXAMPLE_REPO, target, symlinks=True)
    return target


@pytest.fixture
def write(example_repo: Path) -> Callable[[str, str | bytes], Path]:
    """Write a file into the example repo copy (creating directories)."""

    def _write(rel: str, content: str | bytes) -> Path:
        path = example_repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write
