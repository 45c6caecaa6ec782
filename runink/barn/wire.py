"""Blocking-socket framing for clients of Barn's client port (same crypto as the Raft port).

Frames are ``u32 big-endian length | body``. The first frame each way is a hello
(:mod:`runink.barn.crypto`); every later body is a sealed orjson document.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any, BinaryIO

import orjson

from runink.barn.crypto import CLIENT, HELLO_SIZE, LENGTH, Session
from runink.barn.models import AuthenticationError, InvalidRequestError


class FrameTooLarge(InvalidRequestError):
    """A frame announced more bytes than the receiver accepts."""


def recv_exact(stream: BinaryIO, size: int) -> bytes:
    """Read exactly ``size`` bytes or raise ConnectionError."""
    data = stream.read(size)
    if data is None or len(data) != size:
        raise ConnectionError("connection closed")
    return data


def read_frame(stream: BinaryIO, limit: int) -> bytes:
    """One frame body; raises FrameTooLarge before reading an oversized body."""
    (length,) = LENGTH.unpack(recv_exact(stream, LENGTH.size))
    if length > limit:
        raise FrameTooLarge(f"frame of {length} bytes exceeds the limit of {limit}")
    return recv_exact(stream, length)


class Channel:
    """An authenticated, encrypted, message-oriented connection (thread-safe send)."""

    def __init__(self, sock: socket.socket, master: bytes, *, initiator: bool, limit: int) -> None:
        self.sock = sock
        self.limit = limit
        self._session = Session(master, CLIENT, initiator=initiator)
        self._send_lock = threading.Lock()
        # Buffered: pipelined requests arrive many per recv() instead of two recv()s each.
        self._rfile: BinaryIO = sock.makefile("rb", buffering=1 << 16)  # type: ignore[assignment]
        sock.sendall(LENGTH.pack(HELLO_SIZE) + self._session.hello())
        hello = read_frame(self._rfile, HELLO_SIZE)
        self._session.accept_hello(hello)

    def send(self, message: dict[str, Any]) -> None:
        """Seal and send one JSON message."""
        body = orjson.dumps(message)
        with self._send_lock:
            sealed = self._session.seal(body)
            self.sock.sendall(LENGTH.pack(len(sealed)) + sealed)

    def recv(self) -> Any:
        """Receive one message: AuthenticationError if forged, ValueError if not JSON."""
        body = read_frame(self._rfile, self.limit + 64)
        plaintext = self._session.open(body)
        try:
            return orjson.loads(plaintext)
        except orjson.JSONDecodeError:
            raise InvalidRequestError("message is not JSON") from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._rfile.close()
        self.sock.close()


__all__ = ["AuthenticationError", "Channel", "FrameTooLarge", "read_frame", "recv_exact"]
