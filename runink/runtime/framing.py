"""Framing: how record batches travel between slices. Nothing else knows the bytes.

The codec is orjson (a batch is one JSON array), chosen by measurement:
``bench/framing.py`` put it at ~1.2M records/s through a pipe against ~0.7M for
Arrow IPC and msgpack on ~100-byte records (bench/results/framing.json).

A stream is a sequence of frames ``kind (1 byte) | length (4 bytes, LE) | payload``:
BATCH frames carry records; one END frame closes the stream with the number of
records sent, so a reader can tell a finished stream from a writer that died
(``TruncatedStream``) or lost frames (``FramingError``).
"""

from __future__ import annotations

import contextlib
import decimal
import fcntl
import os
import select
import struct
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

BATCH = 1
END = 2
_HEADER = struct.Struct("<BI")
MAX_FRAME_BYTES = 128 * 1024 * 1024  # one frame; a batch larger than this is split
DEFAULT_PIPE_BYTES = 1024 * 1024

Record = dict[str, Any]


class FramingError(Exception):
    """A stream that is not what a writer would produce."""


class TruncatedStream(FramingError):
    """The stream ended without its END frame: the writer died mid-stream."""


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def encode_batch(records: Sequence[Record]) -> bytes:
    """One BATCH frame's payload."""
    try:
        return orjson.dumps(records, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:  # orjson names the type: "Type is not JSON serializable: X"
        raise FramingError(f"a record holds a value slices cannot exchange ({exc})") from None


def decode_batch(payload: bytes) -> list[Record]:
    """Records from one BATCH frame's payload."""
    try:
        records = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise FramingError(f"corrupt batch: {exc}") from None
    if not isinstance(records, list):
        raise FramingError("corrupt batch: not a list of records")
    return records


def set_pipe_size(fd: int, size: int = DEFAULT_PIPE_BYTES) -> int:
    """Enlarge a pipe (F_SETPIPE_SZ, capped by /proc/sys/fs/pipe-max-size); the new size."""
    try:
        cap = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        cap = size
    return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, min(size, cap))


class FrameWriter:
    """Writes batches to a file descriptor (a pipe: blocking writes are back-pressure)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.records = 0
        self.closed = False

    def write(self, records: Sequence[Record]) -> None:
        """Send ``records`` (split into several frames if they would not fit in one)."""
        if not records:
            return
        payload = encode_batch(records)
        if len(payload) > MAX_FRAME_BYTES:
            if len(records) == 1:
                raise FramingError(
                    f"one record is {len(payload)} bytes; the limit is {MAX_FRAME_BYTES}"
                )
            half = len(records) // 2
            self.write(records[:half])
            self.write(records[half:])
            return
        self._frame(BATCH, payload)
        self.records += len(records)

    def end(self) -> None:
        """Close the stream: an END frame with the count, then the descriptor."""
        if self.closed:
            return
        self._frame(END, orjson.dumps({"records": self.records}))
        self.closed = True
        os.close(self.fd)

    def _frame(self, kind: int, payload: bytes) -> None:
        view = memoryview(_HEADER.pack(kind, len(payload)) + payload)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class FrameReader:
    """Reads batches from one file descriptor until the END frame."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.decoder = Decoder()

    @property
    def records(self) -> int:
        return self.decoder.records

    @property
    def ended(self) -> bool:
        return self.decoder.ended

    def __iter__(self) -> Iterator[list[Record]]:
        return self.batches()

    def batches(self) -> Iterator[list[Record]]:
        """Every batch, in order; raises TruncatedStream if the writer never ended it."""
        try:
            while not self.decoder.ended:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    self.decoder.eof()
                yield from self.decoder.feed(chunk)
        finally:
            os.close(self.fd)


class Decoder:
    """Incremental frame parser for one stream: feed bytes, take complete batches."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.records = 0
        self.ended = False

    def feed(self, data: bytes) -> list[list[Record]]:
        """Batches completed by ``data``; raises FramingError on a malformed stream."""
        self.buffer += data
        batches: list[list[Record]] = []
        while len(self.buffer) >= _HEADER.size and not self.ended:
            kind, length = _HEADER.unpack_from(self.buffer)
            if length > MAX_FRAME_BYTES:
                raise FramingError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
            if len(self.buffer) < _HEADER.size + length:
                break
            payload = bytes(self.buffer[_HEADER.size : _HEADER.size + length])
            del self.buffer[: _HEADER.size + length]
            if kind == BATCH:
                batch = decode_batch(payload)
                self.records += len(batch)
                batches.append(batch)
            elif kind == END:
                sent = orjson.loads(payload).get("records")
                if sent != self.records:
                    raise FramingError(f"writer sent {sent} records, {self.records} arrived")
                self.ended = True
            else:
                raise FramingError(f"unknown frame kind {kind}")
        return batches

    def eof(self) -> None:
        """The stream closed; raise TruncatedStream unless it ended properly."""
        if not self.ended:
            raise TruncatedStream(
                f"stream ended after {self.records} records without END: the writing slice died"
            )


def merge(
    fds: list[int], on_idle: Callable[[], None] | None = None, idle_seconds: float = 0.5
) -> Iterator[list[Record]]:
    """Batches from several streams as they arrive, until every stream has ended.

    Reading one input to its end before the next can deadlock a DAG whose branches
    share an upstream (the unread branch fills its pipe and blocks the tee), so
    inputs are multiplexed with select(). ``on_idle`` is called whenever nothing has
    arrived for ``idle_seconds``.
    """
    decoders = {fd: Decoder() for fd in fds}
    try:
        while decoders:
            ready, _, _ = select.select(list(decoders), [], [], idle_seconds)
            if not ready and on_idle is not None:
                on_idle()  # nothing arrived for a while: e.g. report the latest counts
            for fd in ready:
                chunk = os.read(fd, 1 << 20)
                decoder = decoders[fd]
                if not chunk:
                    decoder.eof()
                    del decoders[fd]
                    continue
                yield from decoder.feed(chunk)
                if decoder.ended:
                    del decoders[fd]
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):  # already closed by an earlier end
                os.close(fd)
