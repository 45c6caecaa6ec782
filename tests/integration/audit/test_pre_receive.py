"""``runi hook pre-receive`` installed in a real bare repository, exercised by `git push`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import commit_all, git

pytestmark = pytest.mark.timeout(240)

NEW_CURRENCY = "          - {value: GBP}\n"


def push(clone: Path, ref: str = "main") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "push", "origin", f"HEAD:refs/heads/{ref}"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def remote(tmp_path: Path, example_repo: Path) -> Path:
    """A bare repository with the hook installed, holding example-repo on main."""
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m runink.cli.main hook pre-receive\n")
    hook.chmod(0o755)
    commit_all(example_repo, "base")
    git(example_repo, "remote", "add", "origin", str(bare))
    first = push(example_repo)  # a new branch: the whole tree is audited
    assert first.returncode == 0, first.stderr
    assert "audit PASS" in first.stderr
    return bare


def test_bad_push_is_rejected_with_the_position(remote: Path, example_repo: Path) -> None:
    contract = example_repo / "contracts/trade.yaml"
    contract.write_text(
        contract.read_text().replace(NEW_CURRENCY, NEW_CURRENCY + "          - {value: JPY}\n")
    )
    commit_all(example_repo, "allow JPY without a new major version")
    result = push(example_repo)
    assert result.returncode != 0
    assert "contracts/trade.yaml:57:9" in result.stderr
    assert "push rejected" in result.stderr
    assert "pre-receive hook declined" in result.stderr
    remote_head = git(remote, "rev-parse", "refs/heads/main")
    assert remote_head != git(example_repo, "rev-parse", "HEAD")


def test_good_push_is_accepted_and_other_branches_are_not_audited(
    remote: Path, example_repo: Path
) -> None:
    contract = example_repo / "contracts/trade.yaml"
    text = contract.read_text().replace(NEW_CURRENCY, NEW_CURRENCY + "          - {value: JPY}\n")
    contract.write_text(text.replace("version: 2.1.0", "version: 3.0.0"))
    commit_all(example_repo, "allow JPY in trade v3")
    result = push(example_repo)
    assert result.returncode == 0, result.stderr
    assert "audit PASS" in result.stderr
    assert "PASS finance/trades/validate-trades" in result.stderr  # its golden test ran
    assert git(remote, "rev-parse", "refs/heads/main") == git(example_repo, "rev-parse", "HEAD")
    # a broken feature on a topic branch is not the hook's business
    (example_repo / "features/broken.dsl").write_text("Feature broken\n")
    commit_all(example_repo, "wip")
    topic = push(example_repo, "topic")
    assert topic.returncode == 0, topic.stderr
    assert "audit" not in topic.stderr
