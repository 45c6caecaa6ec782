"""Leases expire by a replicated decision; watch history is bounded; the CLI reports."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from runink.barn.models import CompactedError, LeaseNotFoundError
from runink.cli.barn import barn
from tests.integration.barn.harness import Cluster


def _eventually(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.mark.timeout(120)
def test_lease_expiry_is_the_same_on_every_member(cluster: Cluster) -> None:
    client = cluster.client()
    try:
        kept = client.lease_grant(2)
        dropped = client.lease_grant(1)
        client.put("/nodes/kept", {"up": True}, lease=kept.id)
        client.put("/nodes/dropped", {"up": True}, lease=dropped.id)
        stop = time.monotonic() + 4
        while time.monotonic() < stop:  # keep one lease alive, let the other lapse
            client.lease_keepalive(kept.id)
            time.sleep(0.3)
        assert client.get("/nodes/dropped") is None
        assert client.get("/nodes/kept") is not None
        with pytest.raises(LeaseNotFoundError):
            client.lease_keepalive(dropped.id)
        # every member applied the same expiry command at the same revision
        final = client.range("/").revision
        for name in cluster.names:
            cluster.wait_caught_up(name, final)
            alone = cluster.client([name])
            try:
                local = alone.range("/nodes/", serializable=True)
                assert [kv.key for kv in local.kvs] == ["/nodes/kept"]
            finally:
                alone.close()
        client.lease_revoke(kept.id)
        assert client.get("/nodes/kept") is None
    finally:
        client.close()


@pytest.mark.timeout(120)
def test_watch_from_a_compacted_revision_is_a_clear_error(tmp_path: Path) -> None:
    c = Cluster(tmp_path, size=1, tuning={"history_limit": 20})
    try:
        c.start_all()
        c.wait_leader()
        client = c.client()
        for i in range(50):
            client.put(f"/h/{i}", i)
        with pytest.raises(CompactedError) as info:
            client.watch("/h/", from_revision=5).get(timeout=5)
        assert info.value.compact_revision >= 30
        with pytest.raises(CompactedError):
            client.range("/h/", revision=3)
        batch = client.watch("/h/", from_revision=45).get(timeout=5)
        assert batch is not None and batch.revision == 45
        client.close()
    finally:
        c.close()


@pytest.mark.timeout(60)
def test_cli_status(cluster: Cluster) -> None:
    result = CliRunner().invoke(
        barn, ["status", "--config", str(cluster.config_path), "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.output)
    assert {r["name"] for r in rows} == set(cluster.names)
    assert sum(r["is_leader"] for r in rows) == 1
    table = CliRunner().invoke(barn, ["status", "--config", str(cluster.config_path)])
    assert table.exit_code == 0 and "leader" in table.output
