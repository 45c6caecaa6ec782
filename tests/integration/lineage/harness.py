"""Real keys, a real pipeline repository and real run events for lineage tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
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


def with_signing(root: Path, block: str) -> Path:
    """:func:`pipeline_repo` with its ``signing: ssh`` setting replaced by ``block``."""
    repo = pipeline_repo(root)
    settings = repo / "runink.yaml"
    settings.write_text(settings.read_text().replace("    signing: ssh\n", block))
    commit_all(repo, "lineage signing")
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


CRASHING_SERVER = """
import os, signal, sys
from pathlib import Path
from reconciler.embedded import embedded_config
from reconciler.lineage import LineageController
from reconciler.server import ControlPlane

def crash(self, appended):
    sys.stdout.write("landed\\n"); sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

LineageController.after_commit = crash
state, source, key = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
ControlPlane(embedded_config(state, source, resync=3600, signing_key=key)).start()
signal.pause()
"""
PENDING = "/lineage/pending/"


def crash_between_commit_and_delete(
    state: Path, source: Path | str, key: Path, count: int
) -> tuple[list[dict[str, Any]], Callable[[], None]]:
    """Queue ``count`` runs, let a server commit (or push) them and SIGKILL it before it
    deletes them; the runs, and a function that restarts a server until they are gone.

    The restart asserts that every run was still pending when it started.
    """
    from reconciler.embedded import embedded_config
    from reconciler.server import ControlPlane
    from tests.conftest import ROOT, eventually

    values = [pending_value() for _ in range(count)]
    plane = ControlPlane(embedded_config(state, source, resync=3600, signing_key=key))
    try:
        plane.start()
        assert plane.lineage is not None and plane.barn is not None
        plane.lineage.max_age = 3600.0  # queue them, commit none
        for value in values:
            plane.barn.put(PENDING + value["run_id"], value)
    finally:
        plane.stop()
    server = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SERVER, str(state), str(source), str(key)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        assert server.wait(timeout=120) == -signal.SIGKILL
        assert server.stdout is not None and "landed" in server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    def restart() -> None:
        restarted = ControlPlane(embedded_config(state, source, resync=3600, signing_key=key))
        try:
            restarted.start()
            barn = restarted.barn
            assert barn is not None
            assert len(barn.range(PENDING).kvs) == count
            eventually(lambda: not barn.range(PENDING).kvs, what="pending emptied")
        finally:
            restarted.stop()

    return values, restart
