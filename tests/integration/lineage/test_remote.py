"""Lineage pushed to a remote (a real bare repository reached by a file:// URL).

The remote refuses non-fast-forward pushes (``receive.denyNonFastForwards``), so a
force push would fail loudly instead of silently dropping someone's commit.
"""

from __future__ import annotations

import random
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.embedded import embedded_config
from reconciler.server import ControlPlane
from runink.lineage.writer import LineageError, PendingRun, RemoteLineageRepo, Signing
from runink.observability.metrics import LINEAGE_COMMITS
from tests.conftest import git
from tests.integration.lineage.harness import (
    commits_on,
    crash_between_commit_and_delete,
    files_on,
    pending_run,
    pending_value,
    run_id_trailers,
    verify_commit,
)
from tests.integration.lineage.test_controller import _applied, eventually, report_as_agent
from tests.unit.lineage.test_events import VALIDATE

pytestmark = pytest.mark.timeout(240)
PENDING = "/lineage/pending/"
BRANCH = "runink/lineage"
REF = f"refs/heads/{BRANCH}"


@pytest.fixture
def remote(tmp_path: Path, repo: Path) -> Path:
    """A bare copy of the pipeline repo that refuses every non-fast-forward push."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    git(bare, "config", "receive.denyNonFastForwards", "true")
    return bare


@pytest.fixture
def plane(tmp_path: Path, remote: Path, key: Path) -> Iterator[ControlPlane]:
    config = embedded_config(tmp_path / "state", remote.as_uri(), resync=3600, signing_key=key)
    server = ControlPlane(config)
    try:
        server.start()
        eventually("the source applied", lambda: _applied(server))
        yield server
    finally:
        server.stop()


class Person:
    """Someone with a clone who keeps pushing notes to the remote's lineage branch."""

    def __init__(self, root: Path, remote: Path) -> None:
        self.clone = root / "person"
        git(root, "clone", "-q", str(remote), str(self.clone))
        self.pushed: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> Person:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                git(self.clone, "fetch", "-q", "origin")
                if not git(self.clone, "branch", "-r", "--list", f"origin/{BRANCH}"):
                    self._stop.wait(0.05)
                    continue
                git(self.clone, "checkout", "-q", "-B", "notes", f"origin/{BRANCH}")
                n += 1
                note = self.clone / "notes" / f"note-{n}.txt"
                note.parent.mkdir(exist_ok=True)
                note.write_text(f"checked by hand, note {n}\n")
                git(self.clone, "add", "notes")
                git(self.clone, "commit", "-q", "-m", f"note {n}")
                sha = git(self.clone, "rev-parse", "HEAD")
                done = subprocess.run(
                    ["git", "push", "-q", "origin", f"HEAD:{REF}"],
                    cwd=self.clone, capture_output=True, text=True, timeout=60, check=False,
                )  # fmt: skip
                if done.returncode == 0:
                    self.pushed.append(sha)
                # A busy person, not a flood: several pushes a second, never in step.
                self._stop.wait(random.uniform(0.05, 0.25))
            except subprocess.SubprocessError as exc:
                self.errors.append(str(exc))
                return


def lineage_commits(remote: Path) -> list[str]:
    """The branch's commits made by Runink (not the person's)."""
    out = git(remote, "log", "--format=%H %ae", REF)
    return [line.split()[0] for line in out.splitlines() if line.endswith("lineage@runink.invalid")]


def test_a_reported_run_lands_signed_on_the_remotes_lineage_branch(
    plane: ControlPlane, remote: Path, repo: Path, tmp_path: Path
) -> None:
    assert plane.barn is not None
    main_before = git(remote, "rev-parse", "refs/heads/main")
    value = pending_value()
    report_as_agent(plane, tmp_path / "state", value)
    eventually("pending emptied", lambda: not plane.barn.range(PENDING).kvs)  # type: ignore[union-attr]
    (commit,) = commits_on(remote)
    assert files_on(remote) == [f"lineage/{VALIDATE}/{value['run_id']}.json"]
    assert verify_commit(remote, commit, repo / ".runink" / "allowed_signers").returncode == 0
    assert git(remote, "rev-parse", "refs/heads/main") == main_before
    assert remote.as_uri() not in (plane.config.sources[0].path / "config").read_text()


@pytest.mark.timeout(300)
def test_a_person_pushing_to_the_lineage_branch_while_runs_finish_keeps_both_histories(
    plane: ControlPlane, remote: Path, repo: Path, tmp_path: Path
) -> None:
    assert plane.barn is not None
    first = pending_value()
    report_as_agent(plane, tmp_path / "state", first)  # the branch exists: the person joins
    eventually("the first run pushed", lambda: not plane.barn.range(PENDING).kvs)  # type: ignore[union-attr]
    person = Person(tmp_path, remote).start()
    values = [first]
    try:
        eventually("the person pushed", lambda: person.pushed or person.errors)
        for _ in range(6):  # 60 runs in bursts, so that several batches race the person
            burst = [pending_value() for _ in range(10)]
            for value in burst:
                plane.barn.put(PENDING + value["run_id"], value)
            values += burst
            eventually("the burst pushed", lambda: not plane.barn.range(PENDING).kvs, 120)  # type: ignore[union-attr]
        eventually("more notes", lambda: len(person.pushed) >= 3 or person.errors)
    finally:
        person.stop()
    assert not person.errors
    tip = git(remote, "rev-parse", REF)
    for sha in person.pushed:
        git(remote, "merge-base", "--is-ancestor", sha, tip)  # raises if it was dropped
    assert sorted(run_id_trailers(remote)) == sorted(v["run_id"] for v in values)
    runs = [f for f in files_on(remote) if f.startswith("lineage/")]
    assert sorted(runs) == sorted(f"lineage/{VALIDATE}/{v['run_id']}.json" for v in values)
    notes = [f for f in files_on(remote) if f.startswith("notes/")]
    assert len(notes) >= len(person.pushed)
    signers = repo / ".runink" / "allowed_signers"
    for commit in lineage_commits(remote):
        changed = git(remote, "diff-tree", "--root", "-r", "--name-only", "--no-commit-id", commit)
        assert changed and all(p.startswith("lineage/") for p in changed.splitlines())
        assert verify_commit(remote, commit, signers).returncode == 0


def test_a_push_that_lost_the_race_is_rebuilt_on_the_winners_commit(
    tmp_path: Path, remote: Path, key: Path
) -> None:
    person = tmp_path / "person"
    git(tmp_path, "clone", "-q", str(remote), str(person))
    git(person, "checkout", "-q", "--orphan", "notes")
    git(person, "rm", "-q", "-rf", ".")
    (person / "README").write_text("the lineage branch, started by hand\n")
    git(person, "add", "README")
    git(person, "commit", "-q", "-m", "start")
    git(person, "push", "-q", "origin", f"HEAD:{REF}")

    class PersonPushesMeanwhile(RemoteLineageRepo):
        """Between our fetch and our push, the person pushes once more (a real race)."""

        won: str | None = None

        def _build(self, tip: str | None, runs: object, signing: Signing) -> list[str]:
            commits = super()._build(tip, runs, signing)  # type: ignore[arg-type]
            if self.won is None:
                (person / "README").write_text("edited\n")
                git(person, "commit", "-q", "-am", "edit")
                git(person, "push", "-q", "origin", f"HEAD:{REF}")
                self.won = git(person, "rev-parse", "HEAD")
            return commits

    mirror = tmp_path / "mirror.git"
    git(tmp_path, "init", "-q", "--bare", str(mirror))
    writer = PersonPushesMeanwhile(mirror, BRANCH, remote.as_uri())
    conflicts = LINEAGE_COMMITS.labels("conflict")._value.get()
    run = pending_run()
    appended = writer.append([run], Signing("ssh", key))
    assert appended.conflicts == 1 and len(appended.commits) == 1
    tip = git(remote, "rev-parse", REF)
    assert tip == appended.commits[0]
    assert git(remote, "rev-parse", f"{tip}^") == writer.won
    assert git(remote, "show", f"{REF}:README") == "edited"
    assert LINEAGE_COMMITS.labels("conflict")._value.get() == conflicts  # counted by the controller

    # Another server (its own mirror) with the same run: already there, nothing committed.
    other = tmp_path / "other.git"
    git(tmp_path, "init", "-q", "--bare", str(other))
    again = RemoteLineageRepo(other, BRANCH, remote.as_uri()).append([run], Signing("ssh", key))
    assert again.commits == () and again.already == {run.run_id}
    assert git(remote, "rev-parse", REF) == tip


def test_a_refusing_or_unreachable_remote_is_an_error_naming_it_without_credentials(
    tmp_path: Path, remote: Path, key: Path
) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'lineage is read-only here' >&2\nexit 1\n")
    hook.chmod(0o755)
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "init", "-q", "--bare", str(mirror))
    runs: list[PendingRun] = [pending_run()]
    with pytest.raises(LineageError) as refused:
        RemoteLineageRepo(mirror, BRANCH, remote.as_uri()).append(runs, Signing("ssh", key))
    assert "refused" in str(refused.value) and "hook declined" in str(refused.value)
    assert remote.as_uri() in str(refused.value)

    url = "https://runink:hunter2@127.0.0.1:1/pipelines.git"
    with pytest.raises(LineageError) as unreachable:
        RemoteLineageRepo(mirror, BRANCH, url).append(runs, Signing("ssh", key))
    message = str(unreachable.value)
    assert "https://127.0.0.1:1/pipelines.git" in message and "hunter2" not in message
    assert "\n" not in message


def test_a_server_killed_between_push_and_delete_pushes_nothing_twice(
    tmp_path: Path, remote: Path, key: Path
) -> None:
    url = remote.as_uri()
    values, restart = crash_between_commit_and_delete(tmp_path / "state", url, key, 20)
    assert len(files_on(remote)) == 20  # on the remote, and still pending:
    restart()
    assert sorted(run_id_trailers(remote)) == sorted(v["run_id"] for v in values)
    assert len(files_on(remote)) == 20 and len(commits_on(remote)) == 1
