"""RemoteBarn: the Barn API over members' client ports (other processes, tests, CLI).

It talks to one member at a time and moves to the next configured member when the
connection fails. A failed write raises :class:`UnavailableError` (outcome unknown,
as with etcd); reads and watches are simply retried elsewhere. A watch resumes from
the revision after the last one it delivered, so it sees every change exactly once.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

from runink.barn.config import BarnConfig, parse_address
from runink.barn.crypto import master_key
from runink.barn.models import (
    BarnError,
    CompactedError,
    Compare,
    DeleteResult,
    KeyValue,
    LeaseInfo,
    Op,
    PutResult,
    RangeResult,
    Status,
    TxnResult,
    UnavailableError,
    WatchResponse,
    error_from_dict,
)
from runink.barn.node import txn_command
from runink.barn.wire import Channel


class _Link:
    """One connection with a reader thread resolving futures by request id."""

    def __init__(self, address: str, master: bytes, limit: int, timeout: float) -> None:
        host, port = parse_address(address)
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.address = address
        self.channel = Channel(sock, master, initiator=True, limit=limit)
        sock.settimeout(None)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, Future[Any]] = {}
        self._streams: dict[int, list[Any]] = {}
        self._stream_events: dict[int, threading.Condition] = {}
        self.dead = False
        threading.Thread(target=self._read_loop, daemon=True).start()

    def _read_loop(self) -> None:
        try:
            while True:
                message = self.channel.recv()
                request_id = message.get("id")
                if "watch" in message or "watch_error" in message:
                    cond = self._stream_events.get(request_id)
                    if cond is not None:
                        with cond:
                            self._streams[request_id].append(message)
                            cond.notify_all()
                    continue
                with self._lock:
                    future = self._pending.pop(request_id, None)
                if future is None:
                    continue
                if message.get("ok"):
                    future.set_result(message.get("result"))
                else:
                    future.set_exception(error_from_dict(message.get("error") or {}))
        except (OSError, ConnectionError, BarnError):
            pass
        finally:
            self.dead = True
            with self._lock:
                pending, self._pending = self._pending, {}
            for future in pending.values():
                future.set_exception(UnavailableError(f"connection to {self.address} lost"))
            for cond in list(self._stream_events.values()):
                with cond:
                    cond.notify_all()

    def submit(self, request: dict[str, Any]) -> Future[Any]:
        future: Future[Any] = Future()
        request_id = next(self._ids)
        with self._lock:
            if self.dead:
                raise UnavailableError(f"connection to {self.address} lost")
            self._pending[request_id] = future
        if request.get("op") == "watch":
            self._streams[request_id] = []
            self._stream_events[request_id] = threading.Condition()
        try:
            self.channel.send({**request, "id": request_id})
        except OSError as exc:
            self.close()
            raise UnavailableError(f"cannot send to {self.address}: {exc}") from None
        return future

    def close(self) -> None:
        self.dead = True
        self.channel.close()


class RemoteWatch:
    """Iterates :class:`WatchResponse`\\ s; reconnects and resumes after failures."""

    def __init__(self, client: RemoteBarn, key: str, prefix: bool, from_revision: int) -> None:
        self._client = client
        self._key = key
        self._prefix = prefix
        self.next_revision = from_revision
        self._link: _Link | None = None
        self._id = 0
        self._cancelled = False
        self.reconnects = 0

    def _open(self) -> None:
        link = self._client._connect()
        request = {
            "op": "watch",
            "key": self._key,
            "prefix": self._prefix,
            "from_revision": self.next_revision,
        }
        future = link.submit(request)
        self._id = max(link._streams)
        future.result(timeout=self._client.timeout)
        self._link = link

    def get(self, timeout: float | None = None) -> WatchResponse | None:
        """The next revision's events; None on timeout. Raises CompactedError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._cancelled:
            if self._link is None or self._link.dead:
                try:
                    if self._link is not None:
                        self.reconnects += 1
                    self._open()
                except (BarnError, OSError, TimeoutError) as exc:
                    if isinstance(exc, CompactedError):
                        raise
                    self._link = None
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    time.sleep(0.05)
                    continue
            link = self._link
            assert link is not None
            cond = link._stream_events[self._id]
            with cond:
                items = link._streams[self._id]
                if not items and not link.dead:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return None
                    cond.wait(0.2 if remaining is None else min(remaining, 0.2))
                if not items:
                    if deadline is not None and time.monotonic() >= deadline:
                        return None
                    continue
                message = items.pop(0)
            if "watch_error" in message:
                error = error_from_dict(message["watch_error"])
                if isinstance(error, CompactedError):
                    raise error
                link.close()
                continue
            batch = WatchResponse.from_dict(message["watch"])
            if batch.revision < self.next_revision:
                continue
            self.next_revision = batch.revision + 1
            return batch
        return None

    def cancel(self) -> None:
        """Stop watching."""
        self._cancelled = True
        if self._link is not None:
            self._link.close()

    def __iter__(self) -> Iterator[WatchResponse]:
        while not self._cancelled:
            batch = self.get(timeout=1.0)
            if batch is not None:
                yield batch


class RemoteBarn:
    """Barn client over the network: same methods as :class:`runink.barn.Barn`."""

    def __init__(
        self,
        addresses: Sequence[str],
        secret: bytes,
        *,
        timeout: float = 5.0,
        max_request_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        if not addresses:
            raise ValueError("RemoteBarn needs at least one member address")
        self.addresses = list(addresses)
        self.timeout = timeout
        self._master = master_key(secret)
        self._limit = max_request_bytes
        self._next = 0
        self._link: _Link | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: BarnConfig, *, timeout: float = 5.0) -> RemoteBarn:
        """A client for the cluster a member config describes (this member first)."""
        addresses = [config.me.client_address] + [m.client_address for m in config.peers]
        return cls(
            addresses,
            config.secret,
            timeout=timeout,
            max_request_bytes=config.tuning.max_request_bytes,
        )

    def _connect(self) -> _Link:
        errors = []
        for _ in range(len(self.addresses)):
            address = self.addresses[self._next % len(self.addresses)]
            self._next += 1
            try:
                return _Link(address, self._master, self._limit, self.timeout)
            except (OSError, BarnError) as exc:
                errors.append(f"{address}: {exc}")
        raise UnavailableError("no member reachable: " + "; ".join(errors))

    def _current(self) -> _Link:
        with self._lock:
            if self._link is None or self._link.dead:
                self._link = self._connect()
            return self._link

    def submit(self, request: dict[str, Any]) -> Future[Any]:
        """Send one raw request without waiting (pipelining); resolves to its JSON result."""
        link = self._current()
        try:
            return link.submit(request)
        except UnavailableError:
            with self._lock:
                if self._link is link:
                    self._link = None
            raise

    def request(self, request: dict[str, Any], *, retry: bool = False) -> Any:
        """Send one request and wait. ``retry`` resends on another member (reads only)."""
        attempts = len(self.addresses) * 3 if retry else 1
        last: BarnError | None = None
        for attempt in range(attempts):
            try:
                return self.submit(request).result(timeout=self.timeout + 1)
            except UnavailableError as exc:
                last = exc
            except TimeoutError:
                last = UnavailableError("request timed out; outcome unknown")
                with self._lock:
                    if self._link is not None:
                        self._link.close()
                        self._link = None
            if attempt + 1 < attempts:
                time.sleep(min(0.05 * (attempt + 1), 0.5))
        assert last is not None
        raise last

    # the Barn API
    def put(self, key: str, value: Any, *, lease: int = 0) -> PutResult:
        """Set ``key`` to a JSON value."""
        return PutResult.from_dict(
            self.request({"op": "put", "key": key, "value": value, "lease": lease})
        )

    def delete(self, key: str, *, prefix: bool = False) -> DeleteResult:
        """Delete ``key`` (or every key starting with it)."""
        return DeleteResult.from_dict(self.request({"op": "delete", "key": key, "prefix": prefix}))

    def txn(
        self, compares: Sequence[Compare], then_ops: Sequence[Op], else_ops: Sequence[Op] = ()
    ) -> TxnResult:
        """Atomic compare-and-swap over several keys."""
        return TxnResult.from_dict(self.request(txn_command(compares, then_ops, else_ops)))

    def get(self, key: str, *, serializable: bool = False) -> KeyValue | None:
        """The current value of ``key`` (linearizable unless ``serializable``)."""
        data = self.request({"op": "get", "key": key, "serializable": serializable}, retry=True)
        return None if data is None else KeyValue.from_dict(data)

    def range(
        self, prefix: str, *, limit: int = 0, revision: int = 0, serializable: bool = False
    ) -> RangeResult:
        """Keys starting with ``prefix``, in order."""
        return RangeResult.from_dict(
            self.request(
                {
                    "op": "range",
                    "key": prefix,
                    "limit": limit,
                    "revision": revision,
                    "serializable": serializable,
                },
                retry=True,
            )
        )

    def lease_grant(self, ttl: int) -> LeaseInfo:
        """Grant a lease of ``ttl`` seconds."""
        return LeaseInfo.from_dict(self.request({"op": "lease_grant", "ttl": ttl}))

    def lease_keepalive(self, lease_id: int) -> LeaseInfo:
        """Restart a lease's TTL."""
        return LeaseInfo.from_dict(self.request({"op": "lease_keepalive", "lease": lease_id}))

    def lease_revoke(self, lease_id: int) -> int:
        """Revoke a lease and delete its keys."""
        return int(self.request({"op": "lease_revoke", "lease": lease_id}))

    def watch(
        self, prefix: str, from_revision: int = 0, *, prefix_match: bool = True
    ) -> RemoteWatch:
        """Every change under ``prefix`` from ``from_revision`` (0: from now)."""
        if from_revision <= 0:
            from_revision = self.status().revision + 1
        return RemoteWatch(self, prefix, prefix_match, from_revision)

    def status(self) -> Status:
        """The status of the member this client is connected to."""
        return Status.from_dict(self.request({"op": "status"}, retry=True))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._link is not None:
                self._link.close()
                self._link = None
