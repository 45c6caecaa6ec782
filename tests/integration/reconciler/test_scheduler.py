"""The scheduler on a real Barn: labels, capacity, quota, and re-placement when a node dies."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from reconciler.scheduler import Scheduler
from runink.api.records import AssignmentRecord, NodeRecord, StatusRecord
from runink.barn import RemoteBarn
from tests.conftest import commit_all
from tests.integration.reconciler.test_source_apply import Loop

pytestmark = pytest.mark.timeout(120)

TRADES = "finance/trades/validate-trades"


def add_node(barn: RemoteBarn, name: str, ttl: int = 60, **labels: str) -> int:
    lease = barn.lease_grant(ttl)
    node = NodeRecord(name=name, labels=labels, cpu_millis=8000, memory_bytes=16 << 30)
    barn.put(f"/nodes/{name}", node.to_dict(), lease=lease.id)
    return lease.id


def placed(barn: RemoteBarn) -> dict[str, str]:
    out = {}
    for kv in barn.range("/assignments/").kvs:
        a = AssignmentRecord.from_dict(kv.value)
        out[a.pipeline] = a.node
    return out


def scheduled(barn: RemoteBarn, pipeline: str) -> tuple[str, str, str]:
    kv = barn.get(f"/status/{pipeline}")
    assert kv is not None
    c = next(c for c in StatusRecord.from_dict(kv.value).conditions if c.type == "Scheduled")
    return c.status, c.reason, c.message


def schedule_all(scheduler: Scheduler) -> None:
    for key in scheduler.keys():  # noqa: SIM118 - a controller, not a dict
        scheduler.reconcile(key)


def test_pipelines_go_to_nodes_with_their_herds_labels(
    barn: RemoteBarn, example_repo: Path
) -> None:
    commit_all(example_repo)
    Loop(barn, example_repo).sync()
    add_node(barn, "plain")
    add_node(barn, "fast", disk="ssd")
    scheduler = Scheduler(barn)
    schedule_all(scheduler)
    where = placed(barn)
    assert where[TRADES] == "fast"  # herd finance places on disk=ssd
    assert set(where) == set(scheduler.keys())
    assert scheduled(barn, TRADES)[:2] == ("True", "Scheduled")


def test_a_pipeline_that_fits_nowhere_is_pending_with_the_reason(
    barn: RemoteBarn, example_repo: Path
) -> None:
    commit_all(example_repo)
    Loop(barn, example_repo).sync()
    scheduler = Scheduler(barn)
    result = scheduler.reconcile(TRADES)
    assert result.error is not None and "no live node" in result.error.message
    add_node(barn, "plain")
    scheduler.reconcile(TRADES)
    status, reason, message = scheduled(barn, TRADES)
    assert (status, reason) == ("False", "Unschedulable")
    assert "disk=ssd" in message and "plain" in message


def test_a_herd_over_its_quota_is_refused_with_the_numbers(
    barn: RemoteBarn, example_repo: Path
) -> None:
    herd = example_repo / "herds/finance.yaml"
    herd.write_text(herd.read_text().replace("slices: 16", "slices: 2"))
    commit_all(example_repo)
    Loop(barn, example_repo).sync()
    add_node(barn, "fast", disk="ssd")
    result = Scheduler(barn).reconcile(TRADES)
    assert result.error is not None
    assert "quota exceeded" in result.error.message and "quota 2" in result.error.message
    assert TRADES not in placed(barn)


def test_when_a_nodes_lease_expires_its_pipelines_move(
    barn: RemoteBarn, example_repo: Path
) -> None:
    commit_all(example_repo)
    Loop(barn, example_repo).sync()
    short = add_node(barn, "a", ttl=1, disk="ssd")
    scheduler = Scheduler(barn)
    schedule_all(scheduler)
    assert placed(barn)[TRADES] == "a"
    add_node(barn, "b", disk="ssd")
    schedule_all(scheduler)
    assert placed(barn)[TRADES] == "a"  # a placement sticks while its node lives
    deadline = time.monotonic() + 20
    while barn.get("/nodes/a") is not None:  # no keepalive: Barn expires the lease
        assert time.monotonic() < deadline
        time.sleep(0.2)
    del short
    schedule_all(scheduler)
    assert placed(barn)[TRADES] == "b"
    assert not any(kv.key.startswith("/assignments/a/") for kv in barn.range("/assignments/").kvs)


def test_a_pruned_pipeline_loses_its_assignment(barn: RemoteBarn, example_repo: Path) -> None:
    commit_all(example_repo)
    loop = Loop(barn, example_repo)
    loop.sync()
    add_node(barn, "fast", disk="ssd")
    scheduler = Scheduler(barn)
    schedule_all(scheduler)
    assert any(p.startswith("ecommerce/customers/") for p in placed(barn))
    (example_repo / "features/customers.dsl").unlink()
    commit_all(example_repo, "drop")
    loop.sync()
    schedule_all(scheduler)
    assert not any(p.startswith("ecommerce/customers/") for p in placed(barn))
