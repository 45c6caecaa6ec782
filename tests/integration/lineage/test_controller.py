"""The lineage controller in a real control plane: reports in, signed commits out."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler.embedded import embedded_config
from reconciler.server import ControlPlane
from runink.api import keys
from runink.api.client import ApiClient
from runink.api.protos import runink_pb2 as pb
from runink.cli.up import _all_placement_labels
from runink.lineage.writer import PendingRun
from runink.observability.metrics import RECONCILE_TOTAL
from tests.conftest import git
from tests.integration.lineage.harness import (
    commits_on,
    crash_between_commit_and_delete,
    files_on,
    pending_value,
    run_id_trailers,
    state_of,
    verify_commit,
)
from tests.unit.lineage.test_events import VALIDATE

pytestmark = pytest.mark.timeout(180)
PENDING = "/lineage/pending/"


def eventually(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def plane(tmp_path: Path, repo: Path, key: Path) -> Iterator[ControlPlane]:
    # A resync of an hour: what happens below happens because of events, not polling.
    config = embedded_config(tmp_path / "state", repo, resync=3600, signing_key=key)
    server = ControlPlane(config)
    try:
        server.start()
        eventually("the source applied", lambda: _applied(server))
        yield server
    finally:
        server.stop()


def _applied(plane: ControlPlane) -> bool:
    assert plane.barn is not None
    kv = plane.barn.get("/sources/local")
    return kv is not None and bool(kv.value.get("applied_revision"))


def report_as_agent(plane: ControlPlane, state: Path, value: dict[str, Any]) -> None:
    """What the agent does when a run ends: ReportRun over mTLS, events attached."""
    pki = state / "pki"
    client = ApiClient.from_files(
        plane.api_address, pki / "ca.crt", pki / "agent-local.crt", pki / "agent-local.key"
    )
    try:
        labels = _all_placement_labels(plane.config.sources[0].path)
        client.register(
            "local", labels=labels, cpu_millis=64_000, memory_bytes=1 << 38, ttl_seconds=60
        )
        assert plane.barn is not None
        eventually(
            "an assignment",
            lambda: plane.barn.get(keys.assignment_key("local", "finance", VALIDATE)),  # type: ignore[union-attr]
        )
        run = pb.RunSummary(
            run_id=value["run_id"],
            herd="finance",
            pipeline=VALIDATE,
            revision=value["revision"],
            outcome="succeeded",
            started_at="2026-11-23T20:43:32.123456+00:00",
            ended_at=value["ended_at"],
            events_json=orjson.dumps(value["events"]).decode(),
        )
        client.report_run("local", run)
    finally:
        client.close()


def test_a_reported_run_lands_signed_on_the_lineage_branch_and_nothing_else_moves(
    plane: ControlPlane, repo: Path, tmp_path: Path
) -> None:
    assert plane.barn is not None
    before = state_of(repo)
    source_reconciles = RECONCILE_TOTAL.labels("source", "requeue")._value.get()
    value = pending_value()
    report_as_agent(plane, tmp_path / "state", value)
    run_kv = plane.barn.get(keys.run_key("finance", VALIDATE, value["run_id"]))
    assert run_kv is not None

    eventually("the run on the branch", lambda: files_on(repo) if _has_branch(repo) else [])
    eventually("pending emptied", lambda: not plane.barn.range(PENDING).kvs)  # type: ignore[union-attr]
    (commit,) = commits_on(repo)
    assert files_on(repo) == [f"lineage/{VALIDATE}/{value['run_id']}.json"]
    assert verify_commit(repo, commit, repo / ".runink" / "allowed_signers").returncode == 0
    assert state_of(repo) == before
    time.sleep(1.0)  # a ref event would have queued the source controller by now
    assert RECONCILE_TOTAL.labels("source", "requeue")._value.get() == source_reconciles


def _has_branch(repo: Path) -> bool:
    done = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", "refs/heads/runink/lineage"],
        cwd=repo, capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    return done.returncode == 0


def test_report_run_queues_the_events_in_the_same_transaction_as_the_run_record(
    tmp_path: Path, repo: Path, key: Path
) -> None:
    config = embedded_config(tmp_path / "state", repo, resync=3600, signing_key=key)
    plane = ControlPlane(config)
    try:
        plane.start()
        eventually("the source applied", lambda: _applied(plane))
        assert plane.lineage is not None
        plane.lineage.max_age = 3600.0  # hold the batch: look at the queue as written
        value = pending_value()
        report_as_agent(plane, tmp_path / "state", value)
        assert plane.barn is not None
        run_kv = plane.barn.get(keys.run_key("finance", VALIDATE, value["run_id"]))
        pending = plane.barn.get(PENDING + value["run_id"])
        assert run_kv is not None and pending is not None
        assert run_kv.mod_revision == pending.mod_revision
        assert list(PendingRun.from_value(pending.value).events) == value["events"]
        assert pending.value["pipeline"] == VALIDATE and pending.value["ended_at"]
    finally:
        plane.stop()


def test_two_hundred_runs_finishing_together_land_in_a_handful_of_commits(
    plane: ControlPlane, repo: Path
) -> None:
    assert plane.barn is not None
    values = [pending_value() for _ in range(200)]
    for value in values:
        plane.barn.put(PENDING + value["run_id"], value)
    eventually("pending emptied", lambda: not plane.barn.range(PENDING).kvs, 120)  # type: ignore[union-attr]
    commits = commits_on(repo)
    assert 1 <= len(commits) <= 10
    for commit in commits:
        assert git(repo, "diff-tree", "--root", "-r", "--name-only", "--no-commit-id", commit)
    trailers = run_id_trailers(repo)
    assert sorted(trailers) == sorted(v["run_id"] for v in values)
    assert len(files_on(repo)) == 200


@pytest.mark.timeout(240)
def test_a_server_killed_between_commit_and_delete_commits_every_run_exactly_once(
    tmp_path: Path, repo: Path, key: Path
) -> None:
    values, restart = crash_between_commit_and_delete(tmp_path / "state", repo, key, 20)
    assert len(files_on(repo)) == 20  # on the branch, and still pending:
    restart()
    assert sorted(run_id_trailers(repo)) == sorted(v["run_id"] for v in values)
    assert len(files_on(repo)) == 20 and len(commits_on(repo)) == 1
