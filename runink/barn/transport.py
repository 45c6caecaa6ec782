"""Barn's Raft transport: pysyncobj's TCP transport logic over authenticated frames.

pysyncobj's ``TcpConnection`` unpickles whatever arrives (without a password it is
remote code execution for anyone who reaches the port), caps no frame size, and its
server binds ``0.0.0.0`` unless told otherwise. Here every connection is a
:class:`SecureConnection` (see :mod:`runink.barn.crypto`): a frame is verified before
it is decoded, decoding refuses classes and functions, frames are size-capped, and the
server binds exactly the configured address.

The transport also holds every outgoing message until the journal has been synced
(:meth:`BarnTransport.flush`), which is what makes acknowledgements durable, and it
coalesces the per-command append_entries pysyncobj emits into one message per peer.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from pysyncobj.poller import POLL_EVENT_TYPE  # type: ignore[import-untyped]
from pysyncobj.tcp_connection import CONNECTION_STATE  # type: ignore[import-untyped]
from pysyncobj.transport import TCPTransport  # type: ignore[import-untyped]

from runink.barn.crypto import (
    HELLO_SIZE,
    LENGTH,
    PEER,
    Session,
    dumps_message,
    loads_message,
)
from runink.barn.journal import DurableJournal
from runink.barn.models import AuthenticationError

logger = logging.getLogger(__name__)

#: Largest Raft frame accepted (pysyncobj batches are 64 KiB; snapshots stream in chunks).
MAX_PEER_FRAME = 16 * 1024 * 1024
#: Largest first frame from a peer that connected to us (before it is authenticated).
MAX_FIRST_FRAME = 64 * 1024
#: Coalesced append_entries stop growing past this many command bytes.
MAX_BATCH_BYTES = 1024 * 1024


class SecureConnection:
    """Drop-in for pysyncobj's ``TcpConnection`` with AEAD framing (same interface)."""

    def __init__(
        self,
        poller: Any,
        master: bytes,
        *,
        sock: socket.socket | None = None,
        timeout: float = 10.0,
        buffer_size: int = 2**16,
    ) -> None:
        self.sendRandKey = None
        self.recvRandKey = None
        self.encryptor = None
        self._poller = poller
        self._master = master
        self._timeout = timeout
        self._buffer_size = buffer_size
        self._rbuf = bytearray()
        self._wbuf = bytearray()
        self._pending: list[bytes] = []
        self._session: Session | None = None
        self._initiator = sock is None
        self._authenticated = False
        self._on_message: Callable[[Any], None] | None = None
        self._on_connected: Callable[[], None] | None = None
        self._on_disconnected: Callable[[], None] | None = None
        self._last_read = time.monotonic()
        self._sock: socket.socket | None = sock
        self._fileno: int | None = None
        self._tcp_state = CONNECTION_STATE.DISCONNECTED
        if sock is not None:
            self._fileno = sock.fileno()
            self._tcp_state = CONNECTION_STATE.CONNECTED
            self._start_session()
            self._poller.subscribe(
                self._fileno,
                self._process,
                POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.WRITE | POLL_EVENT_TYPE.ERROR,
            )

    # the TcpConnection interface TCPTransport uses ----------------------------------

    def setOnConnectedCallback(self, cb: Callable[[], None] | None) -> None:
        self._on_connected = cb

    def setOnMessageReceivedCallback(self, cb: Callable[[Any], None] | None) -> None:
        self._on_message = cb

    def setOnDisconnectedCallback(self, cb: Callable[[], None] | None) -> None:
        self._on_disconnected = cb

    @property
    def state(self) -> int:
        # Until the handshake is done the connection is not usable for messages.
        if self._tcp_state == CONNECTION_STATE.CONNECTED and (
            self._session is None or not self._session.established
        ):
            return int(CONNECTION_STATE.CONNECTING)
        return int(self._tcp_state)

    def fileno(self) -> int | None:
        return self._fileno

    def getSendBufferSize(self) -> int:
        return len(self._wbuf)

    def connect(self, host: str | None, port: int) -> bool:
        """Start a non-blocking connection to a peer."""
        if host is None:
            return False
        self._reset()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._sock = sock
        self._initiator = True
        self._last_read = time.monotonic()
        try:
            sock.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            sock.close()
            self._sock = None
            return False
        self._fileno = sock.fileno()
        self._tcp_state = CONNECTION_STATE.CONNECTING
        self._poller.subscribe(
            self._fileno,
            self._process,
            POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.WRITE | POLL_EVENT_TYPE.ERROR,
        )
        return True

    def send(self, message: Any) -> None:
        """Queue one message; sent sealed once the handshake is done."""
        data = dumps_message(message)
        if self._session is None or not self._session.established:
            self._pending.append(data)
            return
        self._write_frame(self._session.seal(data))
        self._try_send()

    def disconnect(self) -> None:
        """Close the socket and tell the transport (once)."""
        notify = self._on_disconnected is not None and (
            self._tcp_state != CONNECTION_STATE.DISCONNECTED
        )
        self._reset()
        if notify and self._on_disconnected is not None:
            self._on_disconnected()

    # internals ----------------------------------------------------------------------

    def _reset(self) -> None:
        if self._fileno is not None:
            self._poller.unsubscribe(self._fileno)
            self._fileno = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._rbuf.clear()
        self._wbuf.clear()
        self._pending.clear()
        self._session = None
        self._authenticated = False
        self._tcp_state = CONNECTION_STATE.DISCONNECTED

    def _start_session(self) -> None:
        self._session = Session(self._master, PEER, initiator=self._initiator)
        self._write_frame(self._session.hello())
        self._try_send()

    def _write_frame(self, body: bytes) -> None:
        self._wbuf += LENGTH.pack(len(body))
        self._wbuf += body

    def _process(self, descr: int, event: int) -> None:
        if descr != self._fileno:
            self._poller.unsubscribe(descr)
            return
        if event & POLL_EVENT_TYPE.ERROR:
            self.disconnect()
            return
        if time.monotonic() - self._last_read > self._timeout:
            self.disconnect()
            return
        sock = self._sock
        if sock is None:
            return
        if self._tcp_state == CONNECTION_STATE.CONNECTING:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.disconnect()
                return
            self._tcp_state = CONNECTION_STATE.CONNECTED
            self._last_read = time.monotonic()
            self._start_session()
            return
        if event & POLL_EVENT_TYPE.WRITE:
            self._try_send()
            if self._tcp_state == CONNECTION_STATE.DISCONNECTED or self._fileno is None:
                return
            mask = POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.ERROR
            if self._wbuf:
                mask |= POLL_EVENT_TYPE.WRITE
            self._poller.subscribe(self._fileno, self._process, mask)
        if event & POLL_EVENT_TYPE.READ:
            if not self._read():
                return
            self._parse()

    def _try_send(self) -> None:
        while self._wbuf and self._sock is not None:
            try:
                sent = self._sock.send(self._wbuf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.disconnect()
                return
            if sent <= 0:
                break
            del self._wbuf[:sent]
        if self._wbuf and self._fileno is not None:
            self._poller.subscribe(
                self._fileno,
                self._process,
                POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.WRITE | POLL_EVENT_TYPE.ERROR,
            )

    def _read(self) -> bool:
        while self._sock is not None:
            try:
                chunk = self._sock.recv(self._buffer_size)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.disconnect()
                return False
            if not chunk:
                self.disconnect()
                return False
            self._rbuf += chunk
            self._last_read = time.monotonic()
            if len(self._rbuf) > MAX_PEER_FRAME + 4:
                break
        return self._sock is not None

    def _parse(self) -> None:
        while len(self._rbuf) >= LENGTH.size:
            (length,) = LENGTH.unpack_from(self._rbuf)
            session = self._session
            if session is None:
                return
            if not session.established:
                limit = HELLO_SIZE
            elif not self._initiator and not self._authenticated:
                # Whoever connects to us is unproven until one frame opens: do not
                # buffer 16 MiB for them (their first message is their address).
                limit = MAX_FIRST_FRAME
            else:
                limit = MAX_PEER_FRAME
            if length > limit or (not session.established and length != HELLO_SIZE):
                logger.warning("peer connection dropped: bad frame length %d", length)
                self.disconnect()
                return
            if len(self._rbuf) < LENGTH.size + length:
                return
            body = bytes(self._rbuf[LENGTH.size : LENGTH.size + length])
            del self._rbuf[: LENGTH.size + length]
            try:
                if not session.established:
                    session.accept_hello(body)
                    self._on_established()
                    continue
                message = loads_message(session.open(body))
                self._authenticated = True
            except AuthenticationError as exc:
                logger.warning("peer connection dropped: %s", exc)
                self.disconnect()
                return
            except Exception as exc:
                logger.warning("peer connection dropped: undecodable message (%s)", exc)
                self.disconnect()
                return
            if self._on_message is not None:
                self._on_message(message)
            if self._tcp_state == CONNECTION_STATE.DISCONNECTED:
                return

    def _on_established(self) -> None:
        session = self._session
        assert session is not None
        for data in self._pending:
            self._write_frame(session.seal(data))
        self._pending.clear()
        self._try_send()
        if self._initiator and self._on_connected is not None:
            self._on_connected()


class SecureServer:
    """Listening socket bound to exactly one address; hands out SecureConnections."""

    def __init__(
        self,
        poller: Any,
        host: str,
        port: int,
        master: bytes,
        on_new_connection: Callable[[SecureConnection], None],
        timeout: float,
    ) -> None:
        self._poller = poller
        self._host = host
        self._port = port
        self._master = master
        self._on_new = on_new_connection
        self._timeout = timeout
        self._sock: socket.socket | None = None

    def bind(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        try:
            sock.bind((self._host, self._port))
            sock.listen(16)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._poller.subscribe(sock.fileno(), self._accept, POLL_EVENT_TYPE.READ)

    def unbind(self) -> None:
        if self._sock is not None:
            self._poller.unsubscribe(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _accept(self, descr: int, event: int) -> None:
        if self._sock is None:
            return
        try:
            sock, _ = self._sock.accept()
        except OSError:
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        self._on_new(SecureConnection(self._poller, self._master, sock=sock, timeout=self._timeout))


class BarnTransport(TCPTransport):  # type: ignore[misc]
    """pysyncobj's TCPTransport with secure connections, an outbox and log hygiene."""

    def __init__(
        self,
        syncObj: Any,
        selfNode: Any,
        otherNodes: Any,
        *,
        master: bytes,
        bind_host: str,
        bind_port: int,
    ) -> None:
        self._master = master
        self._bind_host = bind_host
        self._bind_port = bind_port
        self._outbox: list[tuple[Any, dict[str, Any]]] = []
        self.journal: DurableJournal | None = None
        self.dropped_stale = 0
        super().__init__(syncObj, selfNode, otherNodes)

    def _createServer(self) -> None:
        conf = self._syncObj.conf
        self._server = SecureServer(
            self._syncObj._poller,
            self._bind_host,
            self._bind_port,
            self._master,
            self._onNewIncomingConnection,
            conf.connectionTimeout,
        )

    def addNode(self, node: Any) -> None:
        self._nodes.add(node)
        self._nodeAddrToNode[node.address] = node
        if self._shouldConnect(node):
            conn = SecureConnection(
                self._syncObj._poller,
                self._master,
                timeout=self._syncObj.conf.connectionTimeout,
            )
            conn.setOnConnectedCallback(functools.partial(self._onOutgoingConnected, conn))
            conn.setOnMessageReceivedCallback(functools.partial(self._onMessageReceived, node))
            conn.setOnDisconnectedCallback(functools.partial(self._onDisconnected, conn))
            self._connections[node] = conn

    def send(self, node: Any, message: Any) -> bool:
        # Held until flush(): nothing may leave before the journal is durable.
        conn = self._connections.get(node)
        if conn is None or conn.state != CONNECTION_STATE.CONNECTED:
            return False
        self._outbox.append((node, message))
        return True

    def flush_entries_only(self) -> None:
        """Send now if every held message is an append_entries (a leader's outbox).

        Anything else (an ack, a vote) keeps the whole outbox waiting for the sync,
        so messages to one peer never overtake each other.
        """
        if all(m.get("type") == "append_entries" for _, m in self._outbox):
            self.flush()

    def flush(self) -> None:
        """Send held messages, one coalesced append_entries per peer where possible."""
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, []
        per_node: dict[Any, list[dict[str, Any]]] = {}
        for node, message in outbox:
            queue = per_node.setdefault(node, [])
            if queue and _can_merge(queue[-1], message):
                last = queue[-1]
                last["entries"] = list(last["entries"]) + list(message["entries"])
                last["commit_index"] = message["commit_index"]
                last["_bytes"] = last.get("_bytes", 0) + sum(len(e[0]) for e in message["entries"])
            else:
                queue.append(message)
        for node, messages in per_node.items():
            conn = self._connections.get(node)
            if conn is None or conn.state != CONNECTION_STATE.CONNECTED:
                continue
            for message in messages:
                message.pop("_bytes", None)
                conn.send(message)

    def _onMessageReceived(self, node: Any, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            logger.warning("ignoring a malformed message from %s", node)
            return
        if message["type"] == "append_entries" and self.journal is not None:
            message = _trim_known_entries(self.journal, message)
            if message is None:
                self.dropped_stale += 1
                return
        super()._onMessageReceived(node, message)


def _can_merge(first: dict[str, Any], second: dict[str, Any]) -> bool:
    if first.get("type") != "append_entries" or second.get("type") != "append_entries":
        return False
    if "entries" not in first or "entries" not in second:
        return False
    if "transmission" in first or "transmission" in second:
        return False
    if first["term"] != second["term"]:
        return False
    if first.get("_bytes", 0) > MAX_BATCH_BYTES:
        return False
    last = first["entries"][-1][1] if first["entries"] else first["prevLogIdx"]
    return bool(second["prevLogIdx"] == last)


def _trim_known_entries(journal: DurableJournal, message: dict[str, Any]) -> dict[str, Any] | None:
    """Apply Raft's append rule that pysyncobj skips: only truncate on a real conflict.

    pysyncobj deletes everything after ``prevLogIdx`` whenever its log is longer,
    even when the following entries match (a duplicate or re-sent batch after a
    ``reset``). That churns the journal and can briefly drop committed, already
    applied entries ("truncating already-applied log entries"). Here entries we
    already hold with the same term are skipped; a message carrying nothing new is
    dropped (the leader's later messages carry the same information).
    """
    if "prevLogIdx" not in message or "transmission" in message or len(journal) == 0:
        return message
    prev = message["prevLogIdx"]
    first_idx = journal[0][1]
    our_last = journal[-1][1]
    if prev is None or prev >= our_last or prev < first_idx:
        return message
    if journal[prev - first_idx][2] != message.get("prevLogTerm"):
        return message
    entries = message.get("entries") or []
    k = 0
    while k < len(entries):
        idx, term = entries[k][1], entries[k][2]
        if idx > our_last or journal[idx - first_idx][2] != term:
            break
        k += 1
    if not entries:
        # A heartbeat carries the leader's last index: a longer log here is an
        # uncommitted tail from an old term, which pysyncobj rightly truncates.
        return message
    if k == len(entries) and entries[-1][1] < our_last:
        return None
    if k == 0:
        return message
    matched = entries[k - 1][1]
    trimmed = dict(message)
    trimmed["prevLogIdx"] = matched
    trimmed["prevLogTerm"] = journal[matched - first_idx][2]
    trimmed["entries"] = entries[k:]
    return trimmed


__all__ = ["MAX_PEER_FRAME", "BarnTransport", "SecureConnection", "SecureServer"]
