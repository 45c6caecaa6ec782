"""Agents over mTLS: registration under a lease, heartbeats, assignment watches,
slice and run reports, and secrets only for the herds a node runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import orjson
import pytest

from runink.api import keys
from runink.api.client import ApiError
from runink.api.protos import runink_pb2 as pb
from runink.api.records import AssignmentRecord
from tests.integration.api.harness import ApiHarness

PIPELINE = "finance/trades/validate-trades"


def _eventually(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.mark.timeout(60)
def test_a_registered_node_is_listed_until_its_heartbeats_stop(api: ApiHarness) -> None:
    agent = api.agent("n2")
    admin = api.client(api.token("finance", "admin"))
    reply = agent.register("n2", labels={"disk": "nvme"}, cpu_millis=2000, ttl_seconds=2)
    for _ in range(3):
        time.sleep(0.5)
        assert agent.heartbeat("n2", reply.lease_id).ttl_seconds == 2
    nodes = {n.name: n for n in admin.list_nodes("finance")}
    assert nodes["n2"].labels == {"disk": "nvme"} and nodes["n2"].ready
    _eventually(lambda: "n2" not in {n.name for n in admin.list_nodes("finance")})
    with pytest.raises(ApiError) as gone:
        agent.heartbeat("n2", reply.lease_id)
    assert gone.value.code == "NOT_FOUND" and "register again" in str(gone.value)


@pytest.mark.timeout(60)
def test_assignment_watch_sends_current_placements_then_changes(api: ApiHarness) -> None:
    agent = api.agent("n1")
    stream = agent.watch_assignments("n1")
    events: list[pb.AssignmentEvent] = []
    synced = threading.Event()

    def consume(items: Iterator[pb.AssignmentEvent]) -> None:
        try:
            for event in items:
                events.append(event)
                if event.type == pb.AssignmentEvent.SYNCED:
                    synced.set()
        except ApiError:
            pass

    thread = threading.Thread(target=consume, args=(stream,), daemon=True)
    thread.start()
    assert synced.wait(20)
    initial = [e for e in events if e.type == pb.AssignmentEvent.PUT]
    assert {e.pipeline for e in initial} == set(api.seeded["plans"])
    plan = orjson.loads(next(e for e in initial if e.pipeline == PIPELINE).plan_json)
    assert plan["pipeline"] == PIPELINE and plan["nodes"]
    key = keys.assignment_key("n1", "ecommerce", "ecommerce/orders/clean-orders")
    api.barn.delete(key)
    _eventually(lambda: any(e.type == pb.AssignmentEvent.DELETE for e in events))
    api.barn.put(
        key,
        AssignmentRecord("n1", "ecommerce", "ecommerce/orders/clean-orders", "abc").to_dict(),
    )
    _eventually(lambda: events[-1].type == pb.AssignmentEvent.PUT)
    assert events[-1].pipeline == "ecommerce/orders/clean-orders"
    assert orjson.loads(events[-1].plan_json)["herd"] == "ecommerce"
    agent.close()  # ends the stream; the server lets go of it
    thread.join(10)
    assert not thread.is_alive()


@pytest.mark.timeout(60)
def test_slice_reports_show_up_in_the_pipeline_status(api: ApiHarness) -> None:
    agent = api.agent("n1")
    revision = api.seeded["revision"]
    agent.report_slices(
        pb.SliceReport(
            node="n1",
            herd="finance",
            pipeline=PIPELINE,
            revision=revision,
            slices=[
                pb.SliceState(slice="source", state="running"),
                pb.SliceState(slice="decode-trade", state="crashloop", restarts=7, message="oom"),
            ],
        )
    )
    viewer = api.client(api.token("finance", "viewer"))
    reply = viewer.get_pipeline("finance", PIPELINE)
    slices = {s.slice: s for s in reply.slices}
    assert slices["decode-trade"].restarts == 7 and slices["decode-trade"].node == "n1"
    assert reply.summary.slices_total == 2 and reply.summary.slices_ready == 1


@pytest.mark.timeout(60)
def test_a_node_reports_only_pipelines_assigned_to_it(api: ApiHarness) -> None:
    agent = api.agent("n2")  # n2 has no assignments
    with pytest.raises(ApiError) as refused:
        agent.report_slices(pb.SliceReport(node="n2", herd="finance", pipeline=PIPELINE))
    assert refused.value.code == "PERMISSION_DENIED"
    assert "not assigned pipeline finance/trades/validate-trades" in str(refused.value)


@pytest.mark.timeout(60)
def test_a_reported_run_is_readable_and_cannot_be_taken_over_by_another_node(
    api: ApiHarness,
) -> None:
    run = pb.RunSummary(
        run_id="0199aaaa-0000-7000-8000-000000000001",
        herd="finance",
        pipeline=PIPELINE,
        outcome="succeeded",
        started_at="2099-01-01T00:00:00+00:00",
        ended_at="2099-01-01T00:00:05+00:00",
        totals={"read": 10, "written": 9, "dlq": 1},
        steps=[pb.StepStatus(id="source", kind="source", state="succeeded", counts={"in": 10})],
    )
    api.agent("n1").report_run("n1", run)
    viewer = api.client(api.token("finance", "viewer"))
    got = viewer.get_run("finance", run.run_id)
    assert got.node == "n1" and got.totals["dlq"] == 1 and got.steps[0].counts["in"] == 10
    assert viewer.list_runs("finance", PIPELINE)[0].run_id == run.run_id  # newest first
    api.barn.put(
        keys.assignment_key("n2", "finance", PIPELINE),
        AssignmentRecord("n2", "finance", PIPELINE).to_dict(),
    )
    try:
        with pytest.raises(ApiError) as refused:
            api.agent("n2").report_run("n2", run)
        assert "belongs to node 'n1'" in str(refused.value)
    finally:
        api.barn.delete(keys.assignment_key("n2", "finance", PIPELINE))


@pytest.mark.timeout(60)
def test_secrets_reach_only_nodes_that_run_the_herd_and_only_declared_ones(
    api: ApiHarness,
) -> None:
    admin = api.client(api.token("finance", "admin"))
    admin.set_secret("finance", "warehouse_password", b"agent-visible-value")
    got = api.agent("n1").get_secret("n1", "finance", "warehouse_password")
    assert got.value == b"agent-visible-value" and got.version >= 1
    with pytest.raises(ApiError) as not_running:
        api.agent("n2").get_secret("n2", "finance", "warehouse_password")
    assert "runs no slice of that herd" in str(not_running.value)
    with pytest.raises(ApiError) as undeclared:
        api.agent("n1").get_secret("n1", "finance", "orders_api_token")
    assert "does not declare it" in str(undeclared.value)
    with pytest.raises(ApiError) as unset:
        api.agent("n1").get_secret("n1", "ecommerce", "orders_api_token")
    assert unset.value.code == "NOT_FOUND" and "runi secret set" in str(unset.value)
