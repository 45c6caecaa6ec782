"""Linearizable reads go through the leader and the log; a cut-off member never
answers them from its stale state."""

from __future__ import annotations

import time

import pytest

from runink.barn.models import BarnError
from tests.integration.barn.harness import Cluster


@pytest.mark.timeout(120)
def test_stale_member_refuses_linearizable_reads(cluster: Cluster) -> None:
    """F misses a write (it is down while v2 is acknowledged), then comes back alone.
    Its local state says v1 -- that is what a serializable read, or raw pysyncobj's
    read of a replicated attribute, returns. A linearizable read must not: with no
    leader it fails, and once the others are back it returns v2."""
    leader = cluster.wait_leader()
    stale = next(n for n in cluster.names if n != leader)
    others = [n for n in cluster.names if n != stale]
    client = cluster.client()
    try:
        first = client.put("/r", "v1")
        cluster.wait_caught_up(stale, first.revision)
        cluster.kill(stale)
        client.put("/r", "v2")
    finally:
        client.close()
    cluster.kill_all()
    cluster.start(stale)
    cluster.wait_serving(stale)
    alone = cluster.client([stale], timeout=1.0)
    try:
        # Genuinely stale: v1, or nothing if its commit-index hint predates v1 (a lone
        # member cannot know what was committed, so it applies only what it knew).
        local = alone.get("/r", serializable=True)
        assert local is None or local.value == "v1"
        with pytest.raises(BarnError):
            alone.get("/r")
        with pytest.raises(BarnError):
            alone.range("/")
        for name in others:
            cluster.start(name)
        cluster.wait_leader()
        deadline = time.monotonic() + 30
        while True:  # errors are allowed while it rejoins; a stale answer never is
            try:
                fresh = alone.get("/r")
                break
            except BarnError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert fresh is not None and fresh.value == "v2"
    finally:
        alone.close()
