"""Fault tests on real member processes: kill -9 leaders, the whole cluster, wipe a
member's data. A checker records every acknowledged write and verifies it at the end."""

from __future__ import annotations

import itertools
import shutil
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runink.barn.client import RemoteBarn
from runink.barn.models import BarnError, EventType, WatchResponse
from tests.integration.barn.harness import Cluster


@dataclass
class Checker:
    """Acknowledged writes: key -> (value, revision), per writer in ack order."""

    acked: dict[str, tuple[object, int]] = field(default_factory=dict)
    per_writer: dict[int, list[int]] = field(default_factory=dict)
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, writer: int, key: str, value: object, revision: int) -> None:
        with self.lock:
            self.acked[key] = (value, revision)
            self.per_writer.setdefault(writer, []).append(revision)

    def verify(self, client: RemoteBarn) -> int:
        stored = {kv.key: kv for kv in client.range("/load/").kvs}
        missing = [k for k in self.acked if k not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        for key, (value, revision) in self.acked.items():
            kv = stored[key]
            assert kv.value == value, key
            assert kv.mod_revision == revision, (key, kv.mod_revision, revision)
        for revisions in self.per_writer.values():
            assert all(a < b for a, b in itertools.pairwise(revisions))
        by_revision: dict[int, str] = {}
        for key, (_, revision) in self.acked.items():
            assert by_revision.setdefault(revision, key) == key, f"revision {revision} twice"
        return len(self.acked)


class Load:
    """Several client threads writing unique keys as fast as the cluster allows."""

    def __init__(self, cluster: Cluster, checker: Checker, writers: int = 4) -> None:
        self.cluster = cluster
        self.checker = checker
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(w,), daemon=True) for w in range(writers)
        ]

    def _run(self, writer: int) -> None:
        client = self.cluster.client(timeout=2.0)
        seq = 0
        try:
            while not self.stop.is_set():
                seq += 1
                key = f"/load/w{writer}/{seq:07d}"
                value = {"w": writer, "seq": seq}
                try:
                    result = client.put(key, value)
                except BarnError:
                    self.checker.failures += 1
                    time.sleep(0.02)
                    continue
                self.checker.record(writer, key, value, result.revision)
        finally:
            client.close()

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


class Watcher:
    """A watch held open through the faults; remembers every event it was given."""

    def __init__(self, cluster: Cluster) -> None:
        self.client = cluster.client(timeout=2.0)
        self.watch = self.client.watch("/load/", from_revision=1)
        self.batches: list[WatchResponse] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            batch = self.watch.get(timeout=0.5)
            if batch is not None:
                self.batches.append(batch)

    def drain_until(self, revision: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.batches and self.batches[-1].revision >= revision:
                break
            time.sleep(0.05)
        self.stop.set()
        self.thread.join(timeout=5)
        self.watch.cancel()
        self.client.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ten_leader_kills_under_load(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    checker = Checker()
    failovers: list[float] = []
    try:
        cluster.start_all()
        cluster.wait_leader()
        watcher = Watcher(cluster)
        with Load(cluster, checker):
            for _ in range(10):
                time.sleep(0.7)
                leader = cluster.wait_leader()
                cluster.kill(leader)
                killed_at = time.monotonic()
                survivors = [n for n in cluster.names if n != leader]
                cluster.wait_leader(among=survivors, timeout=60)
                failovers.append(time.monotonic() - killed_at)
                cluster.start(leader)
                status = cluster.status_of(survivors[0])
                cluster.wait_caught_up(leader, status.revision if status else 0, timeout=60)
        client = cluster.client()
        try:
            count = checker.verify(client)
            final = client.range("/load/").revision
        finally:
            client.close()
        watcher.drain_until(final)
        seen = [b.revision for b in watcher.batches]
        assert seen == sorted(set(seen)), "watch delivered a revision twice or out of order"
        events = [(e.kv.key, e.kv.mod_revision) for b in watcher.batches for e in b.events]
        assert all(e.type is EventType.PUT for b in watcher.batches for e in b.events)
        assert len(events) == len(set(events))
        for key, (_, revision) in checker.acked.items():
            assert (key, revision) in set(events), f"watch missed {key}@{revision}"
        print(
            f"\n{count} acknowledged writes, {checker.failures} failed attempts, "
            f"{watcher.watch.reconnects} watch reconnects; failover after leader kill -9: "
            f"median {statistics.median(failovers):.2f}s max {max(failovers):.2f}s"
        )
        assert count > 100
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill_all_members_at_once_loses_no_acknowledged_write(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    checker = Checker()
    try:
        cluster.start_all()
        cluster.wait_leader()
        load = Load(cluster, checker)
        with load:
            deadline = time.monotonic() + 30
            while len(checker.acked) < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            cluster.kill_all()
            acked_before_crash = len(checker.acked)
        cluster.start_all()
        cluster.wait_leader()
        client = cluster.client()
        try:
            assert checker.verify(client) >= acked_before_crash > 0
        finally:
            client.close()
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_member_with_wiped_data_dir_catches_up(tmp_path: Path) -> None:
    """With a small snapshot threshold the leader has compacted its log, so the wiped
    member must be sent a snapshot (pysyncobj's serializer path), then the log tail."""
    cluster = Cluster(tmp_path, tuning={"snapshot_entries": 200})
    try:
        cluster.start_all()
        leader = cluster.wait_leader()
        client = cluster.client()
        futures = [
            client.submit({"op": "put", "key": f"/load/{i:05d}", "value": i}) for i in range(1500)
        ]
        for future in futures:
            future.result(timeout=60)
        victim = next(n for n in cluster.names if n != leader)
        cluster.kill(victim)
        shutil.rmtree(cluster.data_dir(victim))
        last = client.put("/load/last", "after-wipe").revision
        cluster.start(victim)
        cluster.wait_caught_up(victim, last, timeout=60)
        alone = cluster.client([victim])
        try:
            local = alone.range("/load/", serializable=True)
            assert local.count == 1501
            assert {kv.key: kv.value for kv in local.kvs}["/load/00042"] == 42
        finally:
            alone.close()
        assert any((cluster.data_dir(n) / "snapshot.json").exists() for n in cluster.names)
        client.close()
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.close()
