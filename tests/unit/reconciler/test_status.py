"""Sync and health verdicts, from what agents report and what the scheduler decided."""

from __future__ import annotations

from reconciler.status import judge, worst
from runink.api.records import Condition, NodeReport, RunRecord, SliceState, StatusRecord

DESIRED = "main@sha1:" + "b" * 40
OLD = "main@sha1:" + "a" * 40


def status(revision: str = DESIRED, *states: str, scheduled: bool = True) -> StatusRecord:
    slices = tuple(SliceState(f"s{i}", s, "n1") for i, s in enumerate(states or ("running",)))
    return StatusRecord(
        herd="finance",
        pipeline="finance/trades/validate-trades",
        conditions=(Condition("Scheduled", "True" if scheduled else "False", message="no node"),),
        nodes={"n1": NodeReport("n1", revision, slices, "2026-11-23T00:00:00Z")},
    )


def run(outcome: str, revision: str = DESIRED) -> RunRecord:
    pipeline = "finance/trades/validate-trades"
    return RunRecord("r1", "finance", pipeline, outcome, "t0", "t1", revision)


def test_the_running_revision_decides_sync() -> None:
    assert judge(status(DESIRED), DESIRED, False, None, "stream")[:2] == ("Synced", "Healthy")
    sync, health, message = judge(status(OLD), DESIRED, False, None, "stream")
    assert (sync, health) == ("OutOfSync", "Progressing") and DESIRED in message


def test_a_failed_or_oom_killed_slice_degrades_and_is_named() -> None:
    broken = status(DESIRED, "running", "OOMKilled")
    _, health, message = judge(broken, DESIRED, False, None, "stream")
    assert health == "Degraded" and "s1 OOMKilled" in message


def test_a_batch_pipeline_is_healthy_once_its_revision_ran_successfully() -> None:
    done = status(DESIRED, "succeeded")
    assert judge(done, DESIRED, False, None, "once")[1] == "Progressing"
    assert judge(done, DESIRED, False, run("succeeded"), "once")[1] == "Healthy"
    assert judge(done, DESIRED, False, run("failed"), "once")[1] == "Degraded"


def test_suspended_and_unschedulable_pipelines_say_so() -> None:
    assert judge(status(), DESIRED, True, None, "stream")[1] == "Suspended"
    pending = judge(status(scheduled=False), DESIRED, False, None, "stream")
    assert pending[1:] == ("Degraded", "no node")


def test_a_herd_is_as_healthy_as_its_worst_pipeline() -> None:
    assert worst(["Healthy", "Progressing", "Healthy"]) == "Progressing"
    assert worst(["Suspended", "Degraded"]) == "Degraded"
    assert worst([]) == "Healthy"
