"""The lineage writer: signed orphan-branch commits built from git objects alone."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from runink.lineage.writer import LineageError, LineageRepo, PendingRun, Signing
from tests.conftest import git
from tests.integration.lineage.harness import (
    commits_on,
    files_on,
    keypair,
    pending_run,
    pipeline_repo,
    run_id_trailers,
    state_of,
    verify_commit,
)
from tests.unit.lineage.test_events import assert_valid_data

pytestmark = pytest.mark.timeout(60)
BRANCH = "runink/lineage"


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return keypair(tmp_path, "lineage")


@pytest.fixture
def repo(tmp_path: Path, key: Path) -> Path:
    return pipeline_repo(tmp_path, key)


def test_runs_land_signed_on_an_orphan_branch_and_main_and_the_work_tree_stay(
    repo: Path, key: Path
) -> None:
    (repo / "untracked.txt").write_text("a person's work in progress\n")
    (repo / "features" / "trades.dsl").write_text("edited, not committed\n")
    git(repo, "add", "features/trades.dsl")
    before = state_of(repo)
    runs = [pending_run() for _ in range(3)]

    done = LineageRepo(repo, BRANCH).append(runs, Signing("ssh", key))

    assert state_of(repo) == before
    (commit,) = done.commits
    assert commits_on(repo) == [commit]
    assert git(repo, "rev-list", "--parents", "-n", "1", commit) == commit  # an orphan
    assert sorted(files_on(repo)) == sorted(r.path for r in runs)
    assert verify_commit(repo, commit, repo / ".runink" / "allowed_signers").returncode == 0
    assert sorted(run_id_trailers(repo)) == sorted(r.run_id for r in runs)
    message = git(repo, "cat-file", "commit", commit)
    assert "Runink-Source-Revision: main@sha1:" in message
    assert "Runink-Pipeline: finance/trades/validate-trades" in message


def test_a_run_file_is_the_runs_events_as_canonical_valid_openlineage(
    repo: Path, key: Path
) -> None:
    run = pending_run()
    LineageRepo(repo, BRANCH).append([run], Signing("ssh", key))
    data = git(repo, "show", f"refs/heads/{BRANCH}:{run.path}").encode() + b"\n"
    events = orjson.loads(data)
    assert data == orjson.dumps(events, option=orjson.OPT_SORT_KEYS) + b"\n"
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {e["run"]["runId"] for e in events} == {run.run_id}
    for event in events:
        assert_valid_data(event)
    assert run.path == f"lineage/finance/trades/validate-trades/{run.run_id}.json"


def test_runs_already_on_the_branch_are_not_committed_again_and_no_empty_commit(
    repo: Path, key: Path
) -> None:
    writer = LineageRepo(repo, BRANCH)
    runs = [pending_run() for _ in range(2)]
    writer.append(runs, Signing("ssh", key))
    again = writer.append(runs, Signing("ssh", key))
    assert again.commits == () and again.already == {r.run_id for r in runs}
    more = writer.append([*runs, pending_run()], Signing("ssh", key))
    assert len(more.commits) == 1 and len(commits_on(repo)) == 2
    assert len(run_id_trailers(repo)) == 3 == len(set(run_id_trailers(repo)))


def test_runs_of_two_source_revisions_make_one_commit_each(repo: Path, key: Path) -> None:
    first, second = "main@sha1:" + "1" * 40, "main@sha1:" + "2" * 40
    runs = [pending_run(revision=first), pending_run(revision=second), pending_run(revision=first)]
    done = LineageRepo(repo, BRANCH).append(runs, Signing("ssh", key))
    assert len(done.commits) == 2
    messages = [git(repo, "log", "-1", "--format=%B", c) for c in done.commits]
    assert messages[0].count("Runink-Run-Id:") == 2 and f"Source-Revision: {first}" in messages[0]
    assert messages[1].count("Runink-Run-Id:") == 1 and f"Source-Revision: {second}" in messages[1]


def test_someone_elses_commit_on_the_branch_is_kept_and_built_upon(repo: Path, key: Path) -> None:
    writer = LineageRepo(repo, BRANCH)
    writer.append([pending_run()], Signing("ssh", key))
    tree = git(repo, "rev-parse", f"{BRANCH}^{{tree}}")
    theirs = git(repo, "commit-tree", tree, "-p", BRANCH, "-m", "a person's note")
    git(repo, "update-ref", f"refs/heads/{BRANCH}", theirs)
    done = writer.append([pending_run()], Signing("ssh", key))
    assert git(repo, "rev-parse", f"{done.commits[0]}^") == theirs


class RacingRepo(LineageRepo):
    """Another server lands its own runs while this one builds its commit (once)."""

    def __init__(self, path: Path, branch: str, other: list[PendingRun], key: Path) -> None:
        super().__init__(path, branch)
        self.other, self.key = other, key

    def _build(self, tip: str | None, runs: list[PendingRun], signing: Signing) -> list[str]:  # type: ignore[override]
        built = super()._build(tip, runs, signing)
        if self.other:
            LineageRepo(self.path, self.branch).append(self.other, Signing("ssh", self.key))
            self.other = []
        return built


def test_a_moved_branch_is_never_overwritten_the_commit_is_rebuilt_on_the_new_tip(
    repo: Path, key: Path
) -> None:
    theirs, ours = [pending_run()], [pending_run(), pending_run()]
    done = RacingRepo(repo, BRANCH, theirs, key).append(ours, Signing("ssh", key))
    assert done.conflicts == 1
    assert len(commits_on(repo)) == 2
    assert sorted(run_id_trailers(repo)) == sorted(r.run_id for r in theirs + ours)


def test_ssh_signing_without_a_key_says_how_to_give_one(repo: Path) -> None:
    with pytest.raises(LineageError, match="--lineage-signing-key"):
        LineageRepo(repo, BRANCH).append([pending_run()], Signing("ssh", None))
    assert commits_on_missing(repo)


def commits_on_missing(repo: Path) -> bool:
    return LineageRepo(repo, BRANCH).tip() is None


def test_unsigned_commits_when_the_repository_opts_out(repo: Path) -> None:
    done = LineageRepo(repo, BRANCH).append([pending_run()], Signing("none"))
    assert git(repo, "log", "-1", "--format=%G?", done.commits[0]) == "N"
