"""The node agent against a real API server and Barn: runs converge on assignments."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.integration.agent.harness import Fleet, wait_for

ORDERS = "ecommerce/orders/clean-orders"
EVENTS = "ecommerce/events/keep-events"


def _succeeded(fleet: Fleet, pipeline: str, revision: str) -> list[object]:
    return [r for r in fleet.runs(pipeline) if r.revision == revision and r.outcome == "succeeded"]


@pytest.mark.timeout(120)
def test_batch_pipeline_runs_once_per_revision_and_reports_counts(fleet: Fleet) -> None:
    first = fleet.commit("first")
    fleet.assign(ORDERS, first)
    agent = fleet.agent()
    run = wait_for("the first run", lambda: _succeeded(fleet, ORDERS, first))[0]
    assert run.node == "n1" and run.totals["read"] > 0
    assert {s.id for s in run.steps} >= {"source", "dedupe", "sink-shop-duckdb-silver-orders"}
    assert all(s.counts for s in run.steps)
    wait_for(
        "slices reported succeeded",
        lambda: {state for state, _ in fleet.slices(ORDERS).values()} == {"succeeded"},
    )
    # Passes go by: the revision does not run again.
    agent.converge()
    wait_for("several resyncs", lambda: agent.status()[ORDERS]["revision"] == first)
    assert len(fleet.runs(ORDERS)) == 1
    # A new revision runs again, once.
    feature = fleet.repo / "features/orders.dsl"
    feature.write_text(feature.read_text().replace('cpu="250m"', 'cpu="300m"'))
    second = fleet.commit("more cpu")
    fleet.assign(ORDERS, second)
    wait_for("the second revision's run", lambda: _succeeded(fleet, ORDERS, second))
    assert [r.revision for r in fleet.runs(ORDERS)] == [first, second]


@pytest.mark.timeout(120)
def test_agent_restart_does_not_run_a_done_revision_again(fleet: Fleet) -> None:
    revision = fleet.commit()
    fleet.assign(ORDERS, revision)
    agent = fleet.agent()
    wait_for("the run", lambda: _succeeded(fleet, ORDERS, revision))
    agent.stop()
    # A new agent with an empty disk asks the server what already ran.
    again = fleet.agent(data_dir=fleet.root / "fresh-disk")
    wait_for("the new agent's worker", lambda: ORDERS in again.status())
    wait_for("it reports the revision done", lambda: fleet.slices(ORDERS))
    again.converge()
    assert len(fleet.runs(ORDERS)) == 1


def _stream_up(fleet: Fleet) -> str:
    inbox = fleet.root / "agent" / "ecommerce" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    revision = fleet.commit()
    fleet.assign(EVENTS, revision)
    return revision


def _slice_pids(marker: str) -> list[int]:
    """Slice processes whose cgroup names ``marker`` (a pipeline or step name)."""
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            with open(f"/proc/{p.info['pid']}/cgroup") as f:
                cgroup = f.read()
        except OSError:
            continue
        if "runink-" in cgroup and marker in cgroup:
            found.append(p.info["pid"])
    return found


@pytest.mark.timeout(120)
def test_killed_slice_of_a_stream_is_restarted_and_reported(fleet: Fleet) -> None:
    _stream_up(fleet)
    agent = fleet.agent()
    wait_for("the stream running", lambda: set(fleet.slices(EVENTS).values()) == {("running", 0)})
    victims = wait_for("a slice process", lambda: _slice_pids("normalize"))
    for pid in victims:  # the slice and its namespace parent: kill -9 the whole slice
        os.kill(pid, signal.SIGKILL)
    wait_for(
        "the restarted stream",
        lambda: set(fleet.slices(EVENTS).values()) == {("running", 1)},
    )
    failed = [r for r in fleet.runs(EVENTS) if r.outcome == "failed"]
    assert len(failed) == 1 and any(s.state == "failed" for s in failed[0].steps)
    assert agent.status()[EVENTS]["restarts"] == 1


@pytest.mark.timeout(120)
def test_unassigned_pipeline_stops(fleet: Fleet) -> None:
    _stream_up(fleet)
    agent = fleet.agent()
    wait_for("the stream running", lambda: _slice_pids("keep-events"))
    fleet.unassign(EVENTS)
    wait_for("no slice left", lambda: not _slice_pids("keep-events"))
    wait_for("the worker gone", lambda: EVENTS not in agent.status())


@pytest.mark.timeout(120)
def test_failed_run_is_retried_with_backoff(fleet: Fleet) -> None:
    revision = fleet.commit()
    fleet.assign(ORDERS, revision)
    data = fleet.root / "agent" / "ecommerce" / "data"
    data.mkdir(parents=True)  # seeded data present but the input missing: the run fails
    agent = fleet.agent()
    wait_for(
        "two failed runs",
        lambda: len([r for r in fleet.runs(ORDERS) if r.outcome == "failed"]) >= 2,
    )
    assert agent.status()[ORDERS]["restarts"] >= 2
    # The input arrives: the next retry succeeds and the revision is done.
    (data / "orders.jsonl").write_text((fleet.repo / "data/orders.jsonl").read_text())
    wait_for("a succeeded run", lambda: _succeeded(fleet, ORDERS, revision))
