"""A Barn member in this process: pysyncobj Raft + durable journal + state machine.

:class:`Barn` is the in-process client (the API the gRPC server and controllers use);
it owns a :class:`BarnNode`, which runs pysyncobj's event loop in one thread.

How pysyncobj is adapted, without patching it globally:

* the Raft loop is driven by our own thread (``autoTick=False``) so that the journal
  can be swapped for :class:`DurableJournal` before the first tick, and so that
  every tick ends with *sync journal, then send* (group commit) through
  :class:`BarnTransport`'s outbox;
* commands are orjson bytes, snapshots are orjson files (pysyncobj's ``serializer``
  hooks), never pickles of our state;
* linearizable reads are a no-op command through the leader and the log (a barrier):
  once it is applied here, local state holds every write acknowledged before the read.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import orjson
from pysyncobj import SyncObj, SyncObjConf, replicated  # type: ignore[import-untyped]
from pysyncobj.config import FAIL_REASON  # type: ignore[import-untyped]
from pysyncobj.node import TCPNode  # type: ignore[import-untyped]
from pysyncobj.pipe_notifier import PipeNotifier  # type: ignore[import-untyped]

from runink.barn.config import BarnConfig, parse_address
from runink.barn.crypto import master_key
from runink.barn.journal import DurableJournal, write_durably
from runink.barn.models import (
    BarnError,
    Compare,
    DeleteResult,
    InvalidRequestError,
    KeyValue,
    LeaseInfo,
    LeaseNotFoundError,
    Op,
    PeerStatus,
    PutResult,
    RangeResult,
    Status,
    TxnResult,
    UnavailableError,
    WatchResponse,
)
from runink.barn.state import ApplyResult, BarnState, filter_events, validate_ops
from runink.barn.transport import BarnTransport
from runink.observability import metrics

logger = logging.getLogger(__name__)

_FAIL_NAMES = {
    value: name.lower()
    for name, value in vars(FAIL_REASON).items()
    if name.isupper() and isinstance(value, int)
}
#: Watch queues longer than this cancel the watch (the client resumes by revision).
WATCH_QUEUE_LIMIT = 10_000


class Watch:
    """A stream of :class:`WatchResponse`, one per revision, in revision order."""

    def __init__(
        self,
        node: BarnNode,
        key: str,
        prefix: bool,
        from_revision: int,
        sink: Callable[[WatchResponse | BarnError], bool] | None = None,
    ) -> None:
        self.key = key
        self.prefix = prefix
        self.next_revision = from_revision
        self._node = node
        self._sink = sink
        self._queue: queue.Queue[WatchResponse | BarnError | None] = queue.Queue()
        self._closed = False

    def _deliver(self, batch: WatchResponse) -> bool:
        selected = filter_events(batch, self.key, self.prefix)
        if selected is None or batch.revision < self.next_revision:
            return True
        if self._sink is not None:
            # Pushed straight to a consumer on the Raft thread (the client port);
            # False means it cannot keep up and the watch ends (client resumes).
            if not self._sink(selected):
                self._closed = True
                return False
            self.next_revision = batch.revision + 1
            return True
        if self._queue.qsize() >= WATCH_QUEUE_LIMIT:
            self._fail(BarnError(f"watch fell behind; resume from revision {self.next_revision}"))
            return False
        self.next_revision = batch.revision + 1
        self._queue.put(selected)
        return True

    def _fail(self, error: BarnError) -> None:
        self._closed = True
        if self._sink is not None:
            self._sink(error)
        else:
            self._queue.put(error)

    def get(self, timeout: float | None = None) -> WatchResponse | None:
        """The next revision's events, or None on timeout or after cancel().

        Raises the error that ended the watch (e.g. :class:`CompactedError`).
        """
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, BarnError):
            raise item
        return item

    def cancel(self) -> None:
        """Stop the watch; a blocked ``get`` returns None."""
        self._node._unwatch(self)
        self._closed = True
        self._queue.put(None)

    def __iter__(self) -> Iterator[WatchResponse]:
        while True:
            item = self.get()
            if item is None:
                return
            yield item


class _RaftObj(SyncObj):  # type: ignore[misc]
    """The pysyncobj object: one replicated method taking orjson command bytes."""

    def __init__(self, node: BarnNode, *args: Any, **kwargs: Any) -> None:
        self._barn_node = node
        super().__init__(*args, **kwargs)

    @replicated  # type: ignore[untyped-decorator]
    def barn_apply(self, payload: bytes) -> ApplyResult:
        return self._barn_node._apply_payload(payload)


def _encode_entry(entry: Sequence[Any]) -> list[Any]:
    return [base64.b64encode(bytes(entry[0])).decode(), int(entry[1]), int(entry[2])]


def _decode_entry(data: Sequence[Any]) -> tuple[bytes, int, int]:
    return (base64.b64decode(data[0]), int(data[1]), int(data[2]))


class BarnNode:
    """One Raft member: owns the pysyncobj object, its loop thread and the state."""

    def __init__(self, config: BarnConfig) -> None:
        self.config = config
        self.name = config.name
        tuning = config.tuning
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.state = BarnState(tuning.history_limit)
        self._watches: list[Watch] = []
        self._lease_deadlines: dict[int, float] = {}
        self._was_leader = False
        self._last_leader: str | None = None
        self._status: Status | None = None
        self._status_at = 0.0
        self._next_lease_check = 0.0
        self._stopping = threading.Event()
        self._address_to_name = {m.raft_address: m.name for m in config.members}
        self._metric_labels = {"member": self.name}
        self._apply_seconds = metrics.BARN_APPLY_DURATION.labels(member=self.name)
        self._writes = metrics.BARN_WRITES.labels(member=self.name)
        self._dump_path = config.data_dir / "snapshot.json"
        host, port = parse_address(config.me.raft_address)
        conf = SyncObjConf(
            autoTick=False,
            appendEntriesUseBatch=True,
            commandsWaitLeader=False,
            raftMinTimeout=tuning.election_timeout_min,
            raftMaxTimeout=tuning.election_timeout_max,
            appendEntriesPeriod=tuning.heartbeat_period,
            connectionTimeout=tuning.connection_timeout,
            connectionRetryTime=tuning.reconnect_period,
            leaderFallbackTimeout=max(tuning.election_timeout_max * 2, 1.0),
            logCompactionMinEntries=tuning.snapshot_entries,
            logCompactionMinTime=tuning.snapshot_seconds,
            fullDumpFile=str(self._dump_path),
            serializer=self._serialize,
            deserializer=self._deserialize,
            bindAddress=config.me.raft_address,
            maxBindRetries=3,
            bindRetryTime=0.5,
            dynamicMembershipChange=False,
            pollerType="poll",
        )
        transport_class = partial(
            BarnTransport, master=master_key(config.secret), bind_host=host, bind_port=port
        )
        self._raft = _RaftObj(
            self,
            config.me.raft_address,
            [m.raft_address for m in config.peers],
            conf,
            transportClass=transport_class,
        )
        self._journal = DurableJournal(config.data_dir / "raft.journal", self._dump_path)
        self._install_journal()
        self._transport: BarnTransport = self._raft._SyncObj__transport
        self._transport.journal = self._journal
        self._single = len(config.members) == 1
        # With batching on, pysyncobj neither wakes its loop for new commands nor
        # sends entries before the next heartbeat; both are done here, once per tick.
        self._wake_pending = False
        self._notifier = PipeNotifier(self._raft._poller, self._on_wake)
        self._sent_index = 0
        self._sent_commit = 0
        self._loop_calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._tick_hooks: list[Callable[[], None]] = []
        self._raft.addOnTickCallback(self._on_tick)
        self._thread = threading.Thread(target=self._loop, name=f"barn-{self.name}", daemon=True)
        self._thread.start()

    # --- pysyncobj plumbing ------------------------------------------------------------

    def _install_journal(self) -> None:
        # pysyncobj builds its journal inside __init__ with no hook; with autoTick off
        # nothing has run yet, so replacing it (and the values read from it) is safe.
        raft = self._raft
        journal = self._journal
        if len(journal) == 0:
            journal.add(b"\x01", 1, 0)  # pysyncobj's initial no-op entry
            journal.sync()
        required = ("_SyncObj__raftLog", "_SyncObj__raftCurrentTerm", "_SyncObj__transport")
        missing = [a for a in required if not hasattr(raft, a)]
        if missing:
            raise RuntimeError(f"unsupported pysyncobj version (missing {missing})")
        raft._SyncObj__raftLog = journal
        raft._SyncObj__raftCurrentTerm = max(journal.getCurrentTerm(), journal[-1][2])
        raft._SyncObj__votedForNodeId = journal.getVotedForNodeId()
        raft._SyncObj__raftCommitIndex = journal.getRaftCommitIndex()

    def _loop(self) -> None:
        tick = self.config.tuning.tick_period
        while not self._stopping.is_set():
            try:
                self._raft.doTick(tick)
            except Exception:
                logger.exception("barn %s: tick failed", self.name)
                time.sleep(tick)
        try:
            self._journal.sync()
            self._transport.flush()
            self._raft._doDestroy()
        except Exception:
            logger.exception("barn %s: shutdown failed", self.name)

    def _on_tick(self) -> None:
        # Group commit: everything appended during this tick becomes durable with one
        # fdatasync. A follower sends nothing (acks above all) before that sync. The
        # leader may ship entries first -- Raft lets it write its log in parallel --
        # because it only counts itself towards a majority at the next tick, after
        # this sync; that overlaps its fsync with the followers' work.
        while True:
            try:
                call = self._loop_calls.get_nowait()
            except queue.Empty:
                break
            try:
                call()
            except Exception:
                logger.exception("barn %s: loop call failed", self.name)
        raft = self._raft
        synced = self._journal.dirty
        if raft._isLeader():
            last_index = self._journal[-1][1]
            commit = raft.raftCommitIndex
            if last_index != self._sent_index or commit != self._sent_commit:
                # One append_entries per follower per tick, carrying every entry
                # proposed during the tick and the latest commit index.
                raft._SyncObj__sendAppendEntries()
                self._sent_index, self._sent_commit = last_index, commit
            self._transport.flush_entries_only()
            self._journal.sync()
            self._transport.flush()
        else:
            self._journal.sync()
            self._transport.flush()
        for hook in self._tick_hooks:
            try:
                hook()
            except Exception:
                logger.exception("barn %s: tick hook failed", self.name)
        if synced and self._single:
            # Alone, no peer's ack will wake the poll: commit needs another tick now.
            self._wake()
        now = time.monotonic()
        if now - self._status_at >= 0.05:
            self._refresh_status(now)
        if self._was_leader and now >= self._next_lease_check:
            self._next_lease_check = now + 0.1
            self._expire_leases(now)

    @property
    def poller(self) -> Any:
        """pysyncobj's poller: sockets registered here are served by the Raft thread."""
        return self._raft._poller

    def call_in_loop(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the Raft thread at its next tick."""
        self._loop_calls.put(fn)
        self._wake()

    def add_tick_hook(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the Raft thread at the end of every tick (after the sync)."""
        self._tick_hooks.append(fn)

    def _wake(self) -> None:
        # A command queued after the loop checked its queue must not wait for the
        # poll timeout; one pending byte in the pipe is enough for any number.
        if not self._wake_pending:
            self._wake_pending = True
            self._notifier.notify()

    def _on_wake(self) -> None:
        self._wake_pending = False

    def _serialize(self, filename: str, raft_data: Sequence[Any]) -> None:
        entry1, entry0, cluster = raft_data
        with self._lock:
            snapshot = self.state.to_snapshot()
        blob = orjson.dumps(
            {
                "state": snapshot,
                "raft": {
                    "entry1": _encode_entry(entry1),
                    "entry0": _encode_entry(entry0),
                    "cluster": sorted(str(getattr(n, "id", n)) for n in cluster),
                },
            }
        )
        write_durably(Path(filename), blob)

    def _deserialize(self, filename: str) -> tuple[Any, Any, Any]:
        data = orjson.loads(Path(filename).read_bytes())
        state = BarnState.from_snapshot(data["state"], self.config.tuning.history_limit)
        raft = data["raft"]
        with self._lock:
            self.state = state
            for watch in list(self._watches):
                try:
                    backlog = state.events_since(watch.next_revision, watch.key, watch.prefix)
                except BarnError as exc:
                    self._watches.remove(watch)
                    watch._fail(exc)
                    continue
                for batch in backlog:
                    watch._deliver(batch)
            now = time.monotonic()
            self._lease_deadlines = {lid: now + ttl for lid, (ttl, _) in state.lease_ids().items()}
        cluster = {TCPNode(address) for address in raft["cluster"]}
        return (_decode_entry(raft["entry1"]), _decode_entry(raft["entry0"]), cluster)

    def _apply_payload(self, payload: bytes) -> ApplyResult:
        started = time.perf_counter()
        try:
            command = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return InvalidRequestError("command is not JSON")
        if not isinstance(command, dict):
            return InvalidRequestError("command is not an object")
        with self._lock:
            result, batch = self.state.apply(command)
            if batch is not None:
                for watch in list(self._watches):
                    if not watch._deliver(batch):
                        self._watches.remove(watch)
            op = command.get("op")
            if isinstance(result, LeaseInfo):
                self._lease_deadlines[result.id] = time.monotonic() + result.ttl
            elif op in ("lease_revoke", "lease_expire"):
                live = self.state.lease_ids()
                for lid in list(self._lease_deadlines):
                    if lid not in live:
                        del self._lease_deadlines[lid]
        self._apply_seconds.observe(time.perf_counter() - started)
        if batch is not None:
            self._writes.inc()
        return result

    def _expire_leases(self, now: float) -> None:
        # Only the leader decides expiry, and only by proposing a command: every
        # member deletes the lease's keys when that command is applied, not when its
        # own clock says so.
        with self._lock:
            live = self.state.lease_ids()
        for lease_id, deadline in list(self._lease_deadlines.items()):
            if deadline <= now and lease_id in live:
                renewals = live[lease_id][1]
                payload = orjson.dumps({"op": "lease_expire", "id": lease_id, "renewals": renewals})
                self._raft.barn_apply(payload, callback=_ignore)
                self._wake()
                self._lease_deadlines[lease_id] = now + 1.0

    def _refresh_status(self, now: float) -> None:
        raw = self._raft.getStatus()
        leader_node = raw.get("leader")
        leader = None if leader_node is None else str(getattr(leader_node, "id", leader_node))
        is_leader = raw.get("state") == 2
        if is_leader and not self._was_leader:
            # A new leader starts every lease's clock afresh (as etcd does): the old
            # leader's deadlines are not known here.
            with self._lock:
                live = self.state.lease_ids()
            self._lease_deadlines = {lid: now + ttl for lid, (ttl, _) in live.items()}
        self._was_leader = is_leader
        if leader != self._last_leader:
            metrics.BARN_LEADER_CHANGES.labels(**self._metric_labels).inc()
            self._last_leader = leader
        peers = []
        for member in self.config.peers:
            match = raw.get(f"match_idx_server_{member.raft_address}")
            peers.append(
                PeerStatus(
                    member.name,
                    member.raft_address,
                    raw.get(f"partner_node_status_server_{member.raft_address}") == 2,
                    None if match is None or not is_leader else int(match),
                )
            )
        with self._lock:
            revision = self.state.revision
            compact = self.state.compact_revision
        self._status = Status(
            name=self.name,
            address=self.config.me.raft_address,
            is_leader=is_leader,
            leader=None if leader is None else self._address_to_name.get(leader, leader),
            term=int(raw.get("raft_term", 0)),
            commit_index=int(raw.get("commit_idx", 0)),
            last_applied=int(raw.get("last_applied", 0)),
            revision=revision,
            compact_revision=compact,
            has_quorum=bool(raw.get("has_quorum", False)),
            peers=tuple(peers),
        )
        self._status_at = now
        labels = self._metric_labels
        metrics.BARN_IS_LEADER.labels(**labels).set(1 if is_leader else 0)
        metrics.BARN_HAS_LEADER.labels(**labels).set(0 if leader is None else 1)
        metrics.BARN_TERM.labels(**labels).set(self._status.term)
        metrics.BARN_COMMIT_INDEX.labels(**labels).set(self._status.commit_index)

    # --- API used by Barn and the request server -------------------------------------

    def submit(
        self, command: dict[str, Any], callback: Callable[[Any, BarnError | None], None]
    ) -> None:
        """Propose a command; ``callback(result, error)`` runs on the Raft thread."""
        try:
            payload = orjson.dumps(command)
        except TypeError as exc:
            callback(None, InvalidRequestError(f"value is not JSON: {exc}"))
            return

        def done(result: Any, error: int) -> None:
            if error != FAIL_REASON.SUCCESS:
                reason = _FAIL_NAMES.get(error, str(error))
                callback(None, UnavailableError(f"write not committed: {reason}"))
            elif isinstance(result, BarnError):
                callback(None, result)
            else:
                callback(result, None)

        self._raft.barn_apply(payload, callback=done)
        self._wake()

    def call(self, command: dict[str, Any], timeout: float | None = None) -> Any:
        """Propose a command and wait for its result (raises its BarnError)."""
        done = threading.Event()
        box: list[Any] = [None, None]

        def callback(result: Any, error: BarnError | None) -> None:
            box[0], box[1] = result, error
            done.set()

        self.submit(command, callback)
        if not done.wait(self.config.tuning.request_timeout if timeout is None else timeout):
            raise UnavailableError("timed out waiting for the leader; outcome unknown")
        if box[1] is not None:
            raise box[1]
        return box[0]

    def read(
        self, fn: Callable[[BarnState], Any], *, serializable: bool, timeout: float | None = None
    ) -> Any:
        """Run ``fn`` on local state; unless serializable, after a log barrier."""
        if not serializable:
            self.call({"op": "barrier"}, timeout)
        with self._lock:
            return fn(self.state)

    def watch(
        self,
        key: str,
        *,
        prefix: bool = True,
        from_revision: int = 0,
        sink: Callable[[WatchResponse | BarnError], bool] | None = None,
    ) -> Watch:
        """Register a watch; history from ``from_revision`` is delivered first.

        With ``sink``, batches are pushed to it on the Raft thread instead of queued.
        """
        with self._lock:
            start = from_revision if from_revision > 0 else self.state.revision + 1
            backlog = self.state.events_since(start, key, prefix)
            watch = Watch(self, key, prefix, start, sink)
            for batch in backlog:
                watch._deliver(batch)
            self._watches.append(watch)
        return watch

    def _unwatch(self, watch: Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    def status(self) -> Status:
        """This member's latest view (refreshed by the Raft thread every 50 ms)."""
        deadline = time.monotonic() + 5
        while self._status is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._status is None:
            raise UnavailableError("member not started")
        return self._status

    @property
    def journal(self) -> DurableJournal:
        return self._journal

    def close(self) -> None:
        """Stop the loop, flush, close sockets and files."""
        self._stopping.set()
        self._thread.join(timeout=10)
        with self._lock:
            watches, self._watches = self._watches, []
        for watch in watches:
            watch._closed = True
            watch._queue.put(None)


def _ignore(result: Any, error: int) -> None:
    return None


class WatchStream(Protocol):
    """A watch as callers use it, in-process (:class:`Watch`) or remote (RemoteWatch)."""

    def get(self, timeout: float | None = None) -> WatchResponse | None: ...

    def cancel(self) -> None: ...


class BarnClient(Protocol):
    """The Barn API, the same in-process (:class:`Barn`) and remote (RemoteBarn)."""

    def put(self, key: str, value: Any, *, lease: int = 0) -> PutResult: ...

    def get(self, key: str, *, serializable: bool = False) -> KeyValue | None: ...

    def delete(self, key: str, *, prefix: bool = False) -> DeleteResult: ...

    def range(
        self, prefix: str, *, limit: int = 0, revision: int = 0, serializable: bool = False
    ) -> RangeResult: ...

    def txn(
        self, compares: Sequence[Compare], then_ops: Sequence[Op], else_ops: Sequence[Op] = ()
    ) -> TxnResult: ...

    def lease_grant(self, ttl: int) -> LeaseInfo: ...

    def lease_keepalive(self, lease_id: int) -> LeaseInfo: ...

    def lease_revoke(self, lease_id: int) -> int: ...

    def watch(
        self, prefix: str, from_revision: int = 0, *, prefix_match: bool = True
    ) -> WatchStream: ...

    def status(self) -> Status: ...

    def close(self) -> None: ...


def txn_command(
    compares: Sequence[Compare], then_ops: Sequence[Op], else_ops: Sequence[Op]
) -> dict[str, Any]:
    """The log command of a transaction (validated)."""
    validate_ops([*then_ops, *else_ops])
    for cmp in compares:
        if not isinstance(cmp, Compare):
            raise InvalidRequestError(f"not a Compare: {cmp!r}")
    return {
        "op": "txn",
        "compare": [c.to_dict() for c in compares],
        "success": [o.to_dict() for o in then_ops],
        "failure": [o.to_dict() for o in else_ops],
    }


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise InvalidRequestError("key must be a non-empty string")


class Barn:
    """In-process Barn client: a member running in this process, etcd-like API.

    Writes and (by default) reads go through the Raft leader and the log; pass
    ``serializable=True`` to read this member's local state without a round trip.
    """

    def __init__(self, config: BarnConfig) -> None:
        self.node = BarnNode(config)

    # writes
    def put(self, key: str, value: Any, *, lease: int = 0) -> PutResult:
        """Set ``key`` to a JSON ``value`` (optionally attached to a lease)."""
        _check_key(key)
        result: PutResult = self.node.call(
            {"op": "put", "key": key, "value": value, "lease": lease}
        )
        return result

    def delete(self, key: str, *, prefix: bool = False) -> DeleteResult:
        """Delete ``key`` (or every key starting with it)."""
        if not prefix:
            _check_key(key)
        result: DeleteResult = self.node.call({"op": "delete", "key": key, "prefix": prefix})
        return result

    def txn(
        self, compares: Sequence[Compare], then_ops: Sequence[Op], else_ops: Sequence[Op] = ()
    ) -> TxnResult:
        """If every compare holds run ``then_ops``, else ``else_ops``, atomically."""
        result: TxnResult = self.node.call(txn_command(compares, then_ops, else_ops))
        return result

    def lease_grant(self, ttl: int) -> LeaseInfo:
        """Grant a lease of ``ttl`` seconds; keys put with it die when it expires."""
        result: LeaseInfo = self.node.call({"op": "lease_grant", "ttl": ttl})
        return result

    def lease_keepalive(self, lease_id: int) -> LeaseInfo:
        """Restart a lease's TTL; raises LeaseNotFoundError if it is gone."""
        result: LeaseInfo = self.node.call({"op": "lease_keepalive", "id": lease_id})
        return result

    def lease_revoke(self, lease_id: int) -> int:
        """Revoke a lease and delete its keys; returns the store revision after."""
        result: int = self.node.call({"op": "lease_revoke", "id": lease_id})
        return result

    # reads
    def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        """The current value of ``key`` (linearizable unless ``serializable``)."""
        _check_key(key)
        result: KeyValue | None = self.node.read(lambda s: s.get(key), serializable=serializable)
        return result

    def range(
        self, prefix: str, *, limit: int = 0, revision: int = 0, serializable: bool = False
    ) -> RangeResult:
        """Keys starting with ``prefix`` in order, at ``revision`` (0 = latest)."""
        result: RangeResult = self.node.read(
            lambda s: s.range(prefix, prefix=True, limit=limit, revision=revision),
            serializable=serializable,
        )
        return result

    def watch(self, prefix: str, from_revision: int = 0, *, prefix_match: bool = True) -> Watch:
        """Every change under ``prefix`` from ``from_revision`` (0 = from now on)."""
        return self.node.watch(prefix, prefix=prefix_match, from_revision=from_revision)

    def status(self) -> Status:
        """Leader, term, commit index, members and lag as this member sees them."""
        return self.node.status()

    def wait_for_leader(self, timeout: float = 10.0) -> Status:
        """Block until this member knows a leader and has applied up to the commit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.node._status
            if status is not None and status.leader is not None:
                try:
                    self.node.read(lambda s: None, serializable=False, timeout=1.0)
                    return self.node.status()
                except BarnError:
                    pass
            time.sleep(0.02)
        raise UnavailableError(f"no leader within {timeout} s")

    def close(self) -> None:
        """Stop this member (the rest of the cluster carries on)."""
        self.node.close()


__all__ = [
    "Barn",
    "BarnClient",
    "BarnNode",
    "LeaseNotFoundError",
    "Watch",
    "WatchStream",
    "txn_command",
]
