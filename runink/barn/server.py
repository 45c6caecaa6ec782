"""A member's client port: authenticated, size-capped, pipelined requests over TCP.

The port is served by the Raft thread itself, on pysyncobj's poller: a request is
decoded and proposed in the same loop that replicates it, and all replies of one tick
leave in one send per connection. (A thread-per-connection server measured ~100 us
more CPU per write, mostly GIL hand-offs; see bench/results/barn.json.)

Other processes (test checkers, CLI, later the API server on another host) use it
through :class:`runink.barn.client.RemoteBarn`. Any member answers; writes and
linearizable reads go through the Raft leader (pysyncobj forwards them). A request
carries an ``id``; replies may come out of order, so one connection can keep many
requests in flight. Malformed requests get an error reply; an oversized frame gets an
error reply and the connection is closed; a peer without the secret is disconnected.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from pysyncobj.poller import POLL_EVENT_TYPE  # type: ignore[import-untyped]

from runink.barn.config import parse_address
from runink.barn.crypto import CLIENT, HELLO_SIZE, LENGTH, Session, master_key
from runink.barn.models import (
    AuthenticationError,
    BarnError,
    Compare,
    InvalidRequestError,
    KeyValue,
    Op,
    WatchResponse,
)
from runink.barn.node import BarnNode, Watch, txn_command
from runink.barn.state import BarnState

logger = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 5.0
#: Most client connections served at once.
MAX_CONNECTIONS = 512
#: A connection whose unsent replies exceed this is too slow and is closed.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
#: Watches stop (the client resumes by revision) when output backs up past this.
WATCH_OUTPUT_BYTES = 8 * 1024 * 1024
_READ = POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.ERROR
_READ_WRITE = _READ | POLL_EVENT_TYPE.WRITE


def result_to_json(result: Any) -> Any:
    """Encode any Barn result for the wire."""
    if result is None or isinstance(result, int | str | dict | list):
        return result
    to_dict: Callable[[], Any] = result.to_dict
    return to_dict()


def _str(request: dict[str, Any], name: str, default: str | None = None) -> str:
    value = request.get(name, default)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name!r} must be a string")
    return value


def _int(request: dict[str, Any], name: str, default: int = 0) -> int:
    value = request.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRequestError(f"{name!r} must be a non-negative integer")
    return value


def _bool(request: dict[str, Any], name: str, default: bool = False) -> bool:
    value = request.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{name!r} must be a boolean")
    return value


def build_command(request: dict[str, Any]) -> dict[str, Any]:
    """Validate a write request and turn it into a log command."""
    op = request.get("op")
    if op == "put":
        key = _str(request, "key")
        if not key:
            raise InvalidRequestError("key must not be empty")
        return {
            "op": "put",
            "key": key,
            "value": request.get("value"),
            "lease": _int(request, "lease"),
        }
    if op == "delete":
        prefix = _bool(request, "prefix")
        key = _str(request, "key")
        if not key and not prefix:
            raise InvalidRequestError("key must not be empty")
        return {"op": "delete", "key": key, "prefix": prefix}
    if op == "txn":
        try:
            compares = [Compare.from_dict(c) for c in request.get("compare", [])]
            success = [Op.from_dict(o) for o in request.get("success", [])]
            failure = [Op.from_dict(o) for o in request.get("failure", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidRequestError(f"malformed txn: {exc}") from None
        return txn_command(compares, success, failure)
    if op == "lease_grant":
        return {"op": "lease_grant", "ttl": _int(request, "ttl")}
    if op in ("lease_keepalive", "lease_revoke"):
        # On the wire "id" is the request id, so the lease travels as "lease".
        return {"op": op, "id": _int(request, "lease")}
    raise InvalidRequestError(f"unknown op {op!r}")


class _Connection:
    """One client connection, driven entirely by the Raft thread's poller."""

    def __init__(self, server: RequestServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.fd = sock.fileno()
        self.rbuf = bytearray()
        self.wbuf = bytearray()
        self.session = Session(server.master, CLIENT, initiator=False)
        self.established = False
        self.created = time.monotonic()
        self.watches: dict[int, Watch] = {}
        self.closed = False
        self.closing = False  # send what is buffered, then close
        self.wbuf += LENGTH.pack(HELLO_SIZE) + self.session.hello()
        server.node.poller.subscribe(self.fd, self.on_event, _READ_WRITE)

    # I/O ------------------------------------------------------------------------------

    def on_event(self, fd: int, event: int) -> None:
        if self.closed:
            return
        if event & POLL_EVENT_TYPE.ERROR:
            self.close()
            return
        if event & POLL_EVENT_TYPE.READ and not self.closing:
            self.read()
        if not self.closed:
            self.flush()

    def read(self) -> None:
        limit = self.server.max_request_bytes + 64
        while len(self.rbuf) <= limit + LENGTH.size:
            try:
                chunk = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                return
            if not chunk:
                self.close()
                return
            self.rbuf += chunk
        self.parse(limit)

    def parse(self, limit: int) -> None:
        while len(self.rbuf) >= LENGTH.size and not self.closed and not self.closing:
            (length,) = LENGTH.unpack_from(self.rbuf)
            if not self.established and length != HELLO_SIZE:
                self.close()
                return
            if length > limit:
                error = InvalidRequestError(f"frame of {length} bytes exceeds the limit of {limit}")
                self.reply(None, error=error)
                self.closing = True
                return
            if len(self.rbuf) < LENGTH.size + length:
                return
            body = bytes(self.rbuf[LENGTH.size : LENGTH.size + length])
            del self.rbuf[: LENGTH.size + length]
            try:
                if not self.established:
                    self.session.accept_hello(body)
                    self.established = True
                    continue
                plaintext = self.session.open(body)
            except AuthenticationError as exc:
                logger.info("client connection refused: %s", exc)
                self.close()
                return
            try:
                request = orjson.loads(plaintext)
            except orjson.JSONDecodeError:
                self.reply(None, error=InvalidRequestError("message is not JSON"))
                continue
            if not isinstance(request, dict):
                self.reply(None, error=InvalidRequestError("request must be an object"))
                continue
            self.handle(self.server.node, request)

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        sealed = self.session.seal(orjson.dumps(message))
        self.wbuf += LENGTH.pack(len(sealed))
        self.wbuf += sealed
        if len(self.wbuf) > MAX_OUTPUT_BYTES:
            logger.warning("client too slow (%d bytes unsent); closing", len(self.wbuf))
            self.close()
            return
        self.server.dirty.add(self)

    def flush(self) -> None:
        while self.wbuf:
            try:
                sent = self.sock.send(self.wbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                return
            if sent <= 0:
                break
            del self.wbuf[:sent]
        if self.closing and not self.wbuf:
            self.close()
            return
        self.server.node.poller.subscribe(
            self.fd, self.on_event, _READ_WRITE if self.wbuf else _READ
        )

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for watch in list(self.watches.values()):
            watch.cancel()
        self.watches.clear()
        self.server.node.poller.unsubscribe(self.fd)
        with contextlib.suppress(OSError):
            self.sock.close()
        self.server.connections.discard(self)
        self.server.dirty.discard(self)

    # requests -------------------------------------------------------------------------

    def reply(self, request_id: Any, result: Any = None, error: BarnError | None = None) -> None:
        if error is not None:
            self.send({"id": request_id, "ok": False, "error": error.to_dict()})
        else:
            self.send({"id": request_id, "ok": True, "result": result_to_json(result)})

    def handle(self, node: BarnNode, request: dict[str, Any]) -> None:
        request_id = request.get("id")
        op = request.get("op")
        try:
            if not isinstance(request_id, int) or isinstance(request_id, bool):
                raise InvalidRequestError("'id' must be an integer")
            if op in ("get", "range"):
                self._read(node, request_id, request)
            elif op == "watch":
                self._watch(node, request_id, request)
            elif op == "cancel":
                watch = self.watches.pop(_int(request, "watch_id"), None)
                if watch is not None:
                    watch.cancel()
                self.reply(request_id, None)
            elif op == "status":
                self.reply(request_id, node.status())
            else:
                command = build_command(request)
                node.submit(command, lambda result, error: self.reply(request_id, result, error))
        except BarnError as exc:
            self.reply(request_id, error=exc)
        except Exception:
            # A bug must cost one request, never the member or the connection.
            logger.exception("request %r failed", op)
            self.reply(request_id, error=BarnError("internal error"))

    def _read(self, node: BarnNode, request_id: int, request: dict[str, Any]) -> None:
        key = _str(request, "key")
        serializable = _bool(request, "serializable")
        fn: Callable[[BarnState], Any]
        if request["op"] == "get":
            if not key:
                raise InvalidRequestError("key must not be empty")

            def fn(state: BarnState) -> KeyValue | None:
                return state.get(key)
        else:
            limit = _int(request, "limit")
            revision = _int(request, "revision")
            prefix = _bool(request, "prefix", True)

            def fn(state: BarnState) -> Any:
                return state.range(key, prefix=prefix, limit=limit, revision=revision)

        def run() -> None:
            try:
                with node._lock:
                    self.reply(request_id, fn(node.state))
            except BarnError as exc:
                self.reply(request_id, error=exc)

        if serializable:
            run()
            return

        def after_barrier(result: Any, error: BarnError | None) -> None:
            if error is not None:
                self.reply(request_id, error=error)
            else:
                run()

        node.submit({"op": "barrier"}, after_barrier)

    def _watch(self, node: BarnNode, request_id: int, request: dict[str, Any]) -> None:
        def sink(item: WatchResponse | BarnError) -> bool:
            if isinstance(item, BarnError):
                self.send({"id": request_id, "watch_error": item.to_dict()})
                return False
            if len(self.wbuf) > WATCH_OUTPUT_BYTES:
                error = BarnError("watch fell behind; resume from the next revision")
                self.send({"id": request_id, "watch_error": error.to_dict()})
                return False
            self.send({"id": request_id, "watch": item.to_dict()})
            return not self.closed

        key = _str(request, "key", "")
        prefix = _bool(request, "prefix", True)
        from_revision = _int(request, "from_revision")
        # Acknowledge first so the backlog the watch delivers follows the reply.
        self.reply(request_id, {"watch_id": request_id})
        try:
            watch = node.watch(key, prefix=prefix, from_revision=from_revision, sink=sink)
        except BarnError as exc:
            self.send({"id": request_id, "watch_error": exc.to_dict()})
            return
        self.watches[request_id] = watch


class RequestServer:
    """Serves one member's client port on the member's Raft thread until close()."""

    def __init__(self, node: BarnNode) -> None:
        self.node = node
        self.master = master_key(node.config.secret)
        self.max_request_bytes = node.config.tuning.max_request_bytes
        host, port = parse_address(node.config.me.client_address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self._sock.setblocking(False)
        self.connections: set[_Connection] = set()
        self.dirty: set[_Connection] = set()
        self._next_sweep = 0.0
        self._closed = threading.Event()
        node.call_in_loop(self._start)

    def _start(self) -> None:
        self.node.poller.subscribe(self._sock.fileno(), self._accept, _READ)
        self.node.add_tick_hook(self._on_tick)

    def _accept(self, fd: int, event: int) -> None:
        while True:
            try:
                sock, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(self.connections) >= MAX_CONNECTIONS:
                # Each connection may buffer up to max_request_bytes before its first
                # frame is authenticated: cap how many can exist.
                logger.warning("client port full (%d connections); refusing", MAX_CONNECTIONS)
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections.add(_Connection(self, sock))

    def _on_tick(self) -> None:
        # All replies produced during this tick leave now, one send per connection.
        dirty, self.dirty = self.dirty, set()
        for conn in dirty:
            if not conn.closed:
                conn.flush()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            for conn in list(self.connections):
                if not conn.established and now - conn.created > HANDSHAKE_TIMEOUT:
                    conn.close()

    def _shutdown(self) -> None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            self.node.poller.unsubscribe(self._sock.fileno())
        self._sock.close()
        for conn in list(self.connections):
            conn.close()
        self._closed.set()

    def close(self) -> None:
        """Stop accepting and drop every client connection."""
        self.node.call_in_loop(self._shutdown)
        if not self._closed.wait(5):
            logger.warning("client port did not shut down in time")
