"""Real keys, a real pipeline repository and real run events for lineage tests."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from runink.lineage import run_events, to_dict
from runink.lineage.writer import PendingRun
from runink.runtime.ids import uuid7
from tests.conftest import EXAMPLE_REPO, commit_all, git
from tests.unit.lineage.test_events import (
    VALIDATE,
    contracts,
    plan,
    repository,
    succeeded_validate_run,
)

REVISION = "main@sha1:" + "a" * 40


def keypair(directory: Path, name: str) -> Path:
    """A fresh ed25519 key (no passphrase) made by ssh-keygen; the private key's path."""
    key = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        timeout=30,
    )
    return key


def signer_line(key: Path, principal: str) -> str:
    public = Path(f"{key}.pub").read_text().split()
    return f'{principal} namespaces="git" {public[0]} {public[1]}'


def pipeline_repo(root: Path, *trusted: Path) -> Path:
    """example-repo committed on main, its allowed signers trusting ``trusted`` keys."""
    repo = root / "repo"
    shutil.copytree(EXAMPLE_REPO, repo, symlinks=True)
    signers = repo / ".runink" / "allowed_signers"
    lines = [signer_line(k, f"lineage-{i}@runink.test") for i, k in enumerate(trusted)]
    signers.write_text(signers.read_text() + "".join(f"{line}\n" for line in lines))
    commit_all(repo, "pipelines")
    return repo


def pending_value(
    run_id: str | None = None, revision: str = REVISION, rejected: int = 2
) -> dict[str, Any]:
    """What Api.report_run queues for a finished run of validate-trades."""
    run_id = run_id or uuid7()
    result = replace(succeeded_validate_run(rejected), run_id=run_id, revision=revision)
    events = run_events(plan(VALIDATE), result, contracts=contracts(), repository=repository())
    return {
        "run_id": run_id,
        "herd": "finance",
        "pipeline": VALIDATE,
        "revision": revision,
        "outcome": "succeeded",
        "ended_at": result.ended_at,
        "events": [to_dict(e) for e in events],
    }


def pending_run(run_id: str | None = None, revision: str = REVISION) -> PendingRun:
    return PendingRun.from_value(pending_value(run_id, revision))


def state_of(repo: Path) -> tuple[str, str, str]:
    """main's commit, the work tree's status and the index's tree: what must not move."""
    return (
        git(repo, "rev-parse", "refs/heads/main"),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "write-tree"),
    )


def files_on(repo: Path, branch: str = "runink/lineage") -> list[str]:
    out = git(repo, "ls-tree", "-r", "--name-only", f"refs/heads/{branch}")
    return out.splitlines()


def commits_on(repo: Path, branch: str = "runink/lineage") -> list[str]:
    return git(repo, "rev-list", f"refs/heads/{branch}").splitlines()


def run_id_trailers(repo: Path, branch: str = "runink/lineage") -> list[str]:
    """Every Runink-Run-Id trailer on the branch, as git interpret-trailers reads them."""
    found = []
    for sha in commits_on(repo, branch):
        message = git(repo, "cat-file", "commit", sha).split("\n\n", 1)[1]
        done = subprocess.run(
            ["git", "interpret-trailers", "--parse"],
            input=message,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        found += [
            line.split(":", 1)[1].strip()
            for line in done.stdout.splitlines()
            if line.startswith("Runink-Run-Id:")
        ]
    return found


def verify_commit(repo: Path, sha: str, signers: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", sha],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
