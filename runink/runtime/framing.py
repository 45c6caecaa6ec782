"""Framing: how record batches travel between slices. Nothing else knows the bytes.

A batch is JSON lines: one orjson-compatible JSON object per line, lines joined by
``\n`` (JSON text never holds a raw newline). orjson was chosen by measurement:
``bench/framing.py`` put it at ~1.2M records/s through a pipe against ~0.7M for
Arrow IPC and msgpack on ~100-byte records (bench/results/framing.json). Lines,
rather than one JSON array, let a batch travel without being re-encoded: a jsonl
source ships the lines it read, a step that only selects records (ValidateContract,
Filter) forwards the lines of those it keeps, and a jsonl sink writes them as they
came. :class:`Batch` decodes lazily, so a slice that never looks at records never
pays for them (bench/throughput.py).

A stream is a sequence of frames ``kind (1 byte) | length (4 bytes, LE) | payload``:
BATCH frames carry records (their payload starts with the record count, 4 bytes LE,
so a reader need not scan the lines to count them); MARK frames carry a stream's
checkpoint barrier (the source offsets every record before it came from); one END
frame closes the stream with the number of records sent, so a reader can tell a
finished stream from a writer that died (``TruncatedStream``) or lost frames
(``FramingError``).
"""

from __future__ import annotations

import contextlib
import decimal
import fcntl
import operator
import os
import select
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

BATCH = 1
END = 2
MARK = 3
_HEADER = struct.Struct("<BI")
_COUNT = struct.Struct("<I")
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


def encode_record(record: Record) -> bytes:
    """One record as one line of a batch (no newline)."""
    try:
        return orjson.dumps(record, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:  # orjson names the type: "Type is not JSON serializable: X"
        raise FramingError(f"a record holds a value slices cannot exchange ({exc})") from None


def encode_batch(records: Sequence[Record]) -> bytes:
    """One BATCH frame's payload."""
    try:
        # Plain JSON values (the common case) encode without a Python call per record;
        # the same bytes encode_record would give.
        return b"\n".join(map(orjson.dumps, records))
    except TypeError:  # a Decimal, a set, a non-string key: the careful path
        return b"\n".join(map(encode_record, records))


def decode_batch(payload: bytes) -> list[Record]:
    """Records from one BATCH frame's payload."""
    if not payload:
        return []
    try:
        # One parse of the whole batch: several times cheaper than a loads() per line.
        records = orjson.loads(b"[" + payload.replace(b"\n", b",") + b"]")
    except orjson.JSONDecodeError as exc:
        raise FramingError(f"corrupt batch: {exc}") from None
    if not only_objects(records):
        raise FramingError("corrupt batch: a line is not a JSON object")
    return records  # type: ignore[no-any-return]


def parse_lines(lines: Sequence[bytes]) -> list[Any]:
    """Parse JSON lines at once; raises orjson.JSONDecodeError if any line is not JSON."""
    return orjson.loads(b"[" + b",".join(lines) + b"]")  # type: ignore[no-any-return]


def only_objects(values: list[Any]) -> bool:
    """Whether every value is a dict (at C speed: a source checks every record with it)."""
    return not values or set(map(type, values)) == {dict}


class Batch:
    """Records in transit: raw JSON lines or decoded records, each made from the other
    only when asked for (a slice that forwards lines never decodes them)."""

    __slots__ = ("_lines", "_payload", "_records", "count")

    def __init__(
        self,
        count: int,
        payload: bytes | None = None,
        lines: list[bytes] | None = None,
        records: list[Record] | None = None,
    ) -> None:
        self.count = count
        self._payload = payload
        self._lines = lines
        self._records = records

    @classmethod
    def of_records(cls, records: list[Record]) -> Batch:
        return cls(len(records), records=records)

    @classmethod
    def of_lines(cls, lines: list[bytes]) -> Batch:
        """Lines already known to be JSON objects (a source checked them)."""
        return cls(len(lines), lines=lines)

    @classmethod
    def of_payload(cls, payload: bytes) -> Batch:
        return cls(payload.count(b"\n") + 1 if payload else 0, payload=payload)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records())

    def records(self) -> list[Record]:
        """The decoded records (decoded once; callers may change them in place only if
        they send them on with :meth:`of_records`, never with :meth:`select`)."""
        if self._records is None:
            records = decode_batch(self.payload())
            if len(records) != self.count:
                raise FramingError(f"corrupt batch: {len(records)} records, {self.count} sent")
            self._records = records
        return self._records

    def payload(self) -> bytes:
        if self._payload is None:
            if self._lines is not None:
                self._payload = b"\n".join(self._lines)
            else:
                self._payload = encode_batch(self._records or [])
        return self._payload

    def lines(self) -> list[bytes]:
        if self._lines is None:
            if self._payload is not None:
                self._lines = self._payload.split(b"\n") if self._payload else []
            else:
                self._lines = list(map(encode_record, self._records or []))
        return self._lines

    def select(self, chosen: list[Record]) -> Batch:
        """A batch of ``chosen``, records taken unchanged from this batch, that keeps
        their original lines: a selecting step forwards bytes, it does not re-encode."""
        records = self.records()
        if chosen is records or (
            len(chosen) == len(records) and all(map(operator.is_, chosen, records))
        ):
            return self
        if self._payload is None and self._lines is None:
            return Batch.of_records(chosen)
        where = {id(r): i for i, r in enumerate(records)}
        lines = self.lines()
        picked = []
        for record in chosen:
            i = where.get(id(record))
            if i is None:  # not one of ours after all: encode them all
                return Batch.of_records(chosen)
            picked.append(lines[i])
        return Batch(len(picked), lines=picked, records=chosen)


def set_pipe_size(fd: int, size: int = DEFAULT_PIPE_BYTES) -> int:
    """Enlarge a pipe (F_SETPIPE_SZ, capped by /proc/sys/fs/pipe-max-size); the new size."""
    try:
        cap = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    except (OSError, ValueError):
        cap = size
    return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, min(size, cap))


@dataclass(frozen=True)
class Mark:
    """A checkpoint barrier: every record before it was read from the source up to
    ``offsets``; a sink that has committed them reports the mark (DESIGN §5)."""

    id: int
    offsets: Mapping[str, int]


class FrameWriter:
    """Writes batches to a file descriptor (a pipe: blocking writes are back-pressure)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.records = 0
        self.closed = False

    def write(self, batch: Batch | Sequence[Record]) -> None:
        """Send a batch (split into several frames if it would not fit in one)."""
        if not isinstance(batch, Batch):
            batch = Batch.of_records(list(batch))
        if not batch.count:
            return
        payload = batch.payload()
        if len(payload) + _COUNT.size > MAX_FRAME_BYTES:
            if batch.count == 1:
                raise FramingError(
                    f"one record is {len(payload)} bytes; the limit is {MAX_FRAME_BYTES}"
                )
            lines = batch.lines()
            half = len(lines) // 2
            self.write(Batch.of_lines(lines[:half]))
            self.write(Batch.of_lines(lines[half:]))
            return
        self._frame(BATCH, payload, _COUNT.pack(batch.count))
        self.records += batch.count

    def mark(self, mark: Mark) -> None:
        """Send a checkpoint barrier after the batches written so far."""
        self._frame(MARK, orjson.dumps({"id": mark.id, "offsets": dict(mark.offsets)}))

    def end(self) -> None:
        """Close the stream: an END frame with the count, then the descriptor."""
        if self.closed:
            return
        self._frame(END, orjson.dumps({"records": self.records}))
        self.closed = True
        os.close(self.fd)

    def _frame(self, kind: int, payload: bytes, prefix: bytes = b"") -> None:
        header = _HEADER.pack(kind, len(prefix) + len(payload))
        view = memoryview(header + prefix + payload)
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

    def __iter__(self) -> Iterator[Batch | Mark]:
        return self.batches()

    def batches(self) -> Iterator[Batch | Mark]:
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

    def feed(self, data: bytes) -> list[Batch | Mark]:
        """Batches (and marks) completed by ``data``; FramingError on a malformed stream."""
        self.buffer += data
        batches: list[Batch | Mark] = []
        while len(self.buffer) >= _HEADER.size and not self.ended:
            kind, length = _HEADER.unpack_from(self.buffer)
            if length > MAX_FRAME_BYTES:
                raise FramingError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
            if len(self.buffer) < _HEADER.size + length:
                break
            start, end = _HEADER.size, _HEADER.size + length
            if kind == BATCH:
                if length < _COUNT.size:
                    raise FramingError(f"batch frame of {length} bytes has no record count")
                (count,) = _COUNT.unpack_from(self.buffer, start)
                start += _COUNT.size
            with memoryview(self.buffer) as view:  # one copy of the payload, not two
                payload = bytes(view[start:end])
            del self.buffer[:end]
            if kind == BATCH:
                batch = Batch(count, payload=payload)
                self.records += count
                batches.append(batch)
            elif kind == MARK:
                value = orjson.loads(payload)
                batches.append(Mark(int(value["id"]), dict(value["offsets"])))
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
) -> Iterator[Batch | Mark]:
    """Batches (and marks) from several streams as they arrive, until every stream has ended.

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
