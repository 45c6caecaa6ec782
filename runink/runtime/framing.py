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
so a reader need not scan the lines to count them); LINES frames carry input lines
a jsonl source has not parsed (count, then the first line's number, 8 bytes LE): when
its only reader is a step, which parses them anyway, the source leaves finding the
lines that are not JSON objects to it (:meth:`Batch.check`), so no line is parsed
twice (that was a fifth of the pipeline's CPU); MARK frames carry a stream's
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
LINES = 4
_HEADER = struct.Struct("<BI")
_COUNT = struct.Struct("<I")
_LINES = struct.Struct("<IQ")  # line count, number of the first line
MAX_FRAME_BYTES = 128 * 1024 * 1024  # one frame; a batch larger than this is split
DEFAULT_PIPE_BYTES = 1024 * 1024
READ_BYTES = 256 * 1024  # per read: what a slice holds besides its batch

Record = dict[str, Any]


class FramingError(Exception):
    """A stream that is not what a writer would produce."""


class TruncatedStream(FramingError):
    """The stream ended without its END frame: the writer died mid-stream."""


@dataclass(frozen=True)
class Rejected:
    """Input that is not a record: what it was, where, and why."""

    raw: str
    reason: str


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
    """Parse input lines, each on its own; orjson.JSONDecodeError if any is not JSON.

    Not one parse of the lines joined into an array (~10% cheaper): a value may span
    the joins, so lines that are not JSON one by one (``{"a": [{}``, ``{}]}``,
    ``{},{}``) could parse as as many records as lines. Input is not trusted to be
    one value per line; frames between slices are (decode_batch).
    """
    return list(map(orjson.loads, lines))


def only_objects(values: list[Any]) -> bool:
    """Whether every value is a dict (at C speed: a source checks every record with it)."""
    return not values or set(map(type, values)) == {dict}


def check_lines(lines: list[bytes], first: int) -> tuple[Batch, list[Rejected], int]:
    """Input lines (numbered from ``first``) as a batch of the JSON objects among them,
    the lines that are not one (with the reason), and how many were blank (skipped).

    Each line is parsed on its own (:func:`parse_lines`); only a batch with a line at
    fault is walked again to find it, and reject it with its number.
    """
    try:
        values = parse_lines(lines)
    except orjson.JSONDecodeError:
        values = None
    if values is not None and only_objects(values):
        return Batch(len(lines), lines=lines, records=values), [], 0
    kept: list[bytes] = []
    records: list[Record] = []
    rejected: list[Rejected] = []
    blank = 0
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            blank += 1
            continue
        raw = line.decode("utf-8", "replace").rstrip("\r")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            rejected.append(Rejected(raw, f"line {number}: not JSON: {exc.msg}"))
            continue
        if type(value) is dict:
            kept.append(line)
            records.append(value)
        else:
            kind = type(value).__name__
            rejected.append(Rejected(raw, f"line {number}: a JSON {kind}, not an object"))
    return Batch(len(kept), lines=kept, records=records), rejected, blank


class Batch:
    """Records in transit: raw JSON lines or decoded records, each made from the other
    only when asked for (a slice that forwards lines never decodes them)."""

    __slots__ = ("_lines", "_payload", "_records", "count", "first_line")

    def __init__(
        self,
        count: int,
        payload: bytes | None = None,
        lines: list[bytes] | None = None,
        records: list[Record] | None = None,
        first_line: int | None = None,
    ) -> None:
        self.count = count
        self._payload = payload
        self._lines = lines
        self._records = records
        # Not None: unchecked input lines (any may be blank or not JSON), numbered from it.
        self.first_line = first_line

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

    @classmethod
    def unchecked(cls, lines: list[bytes], first_line: int) -> Batch:
        """Input lines nobody has parsed yet; their reader must :meth:`check` them."""
        return cls(len(lines), lines=lines, first_line=first_line)

    def check(self) -> tuple[Batch, list[Rejected], int]:
        """This batch's records, the lines rejected and the blank lines skipped: an
        unchecked batch is parsed here (:func:`check_lines`); any other is as it is."""
        if self.first_line is None:
            return self, [], 0
        batch, rejected, blank = check_lines(self.lines(), self.first_line)
        if batch.count == self.count:  # every line a record: send on the bytes as they came
            batch._payload = self._payload
        return batch, rejected, blank

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records())

    def records(self) -> list[Record]:
        """The decoded records (decoded once; callers may change them in place only if
        they send them on with :meth:`of_records`, never with :meth:`select`)."""
        if self._records is None:
            if self.first_line is not None:
                raise FramingError("unchecked lines: check() them before taking records")
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
                self._lines = self._payload.split(b"\n") if self.count else []
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
        prefix = _COUNT.size if batch.first_line is None else _LINES.size
        if len(payload) + prefix > MAX_FRAME_BYTES:
            if batch.count == 1:
                raise FramingError(
                    f"one record is {len(payload)} bytes; the limit is {MAX_FRAME_BYTES}"
                )
            lines = batch.lines()
            half = len(lines) // 2
            if batch.first_line is None:
                self.write(Batch.of_lines(lines[:half]))
                self.write(Batch.of_lines(lines[half:]))
            else:
                self.write(Batch.unchecked(lines[:half], batch.first_line))
                self.write(Batch.unchecked(lines[half:], batch.first_line + half))
            return
        if batch.first_line is None:
            self._frame(BATCH, payload, _COUNT.pack(batch.count))
        else:
            self._frame(LINES, payload, _LINES.pack(batch.count, batch.first_line))
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
                chunk = os.read(self.fd, READ_BYTES)
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

    def feed(self, data: bytes) -> Iterator[Batch | Mark]:
        """Batches (and marks) completed by ``data``, one at a time; FramingError on a
        malformed stream.

        A generator, not a list: a reader that fell behind takes a whole pipe's worth
        (~16 batches) at once, and a list would keep every one of them, decoded, alive
        until the last was done; one at a time keeps a slice's peak memory the same
        whatever the run's length (bench/throughput.py).
        """
        self.buffer += data
        while len(self.buffer) >= _HEADER.size and not self.ended:
            kind, length = _HEADER.unpack_from(self.buffer)
            if length > MAX_FRAME_BYTES:
                raise FramingError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
            if len(self.buffer) < _HEADER.size + length:
                break
            start, end = _HEADER.size, _HEADER.size + length
            first_line = None
            if kind == BATCH:
                if length < _COUNT.size:
                    raise FramingError(f"batch frame of {length} bytes has no record count")
                (count,) = _COUNT.unpack_from(self.buffer, start)
                start += _COUNT.size
            elif kind == LINES:
                if length < _LINES.size:
                    raise FramingError(f"lines frame of {length} bytes has no line count")
                count, first_line = _LINES.unpack_from(self.buffer, start)
                start += _LINES.size
            with memoryview(self.buffer) as view:  # one copy of the payload, not two
                payload = bytes(view[start:end])
            del self.buffer[:end]
            if kind in (BATCH, LINES):
                self.records += count
                yield Batch(count, payload=payload, first_line=first_line)
            elif kind == MARK:
                value = orjson.loads(payload)
                yield Mark(int(value["id"]), dict(value["offsets"]))
            elif kind == END:
                sent = orjson.loads(payload).get("records")
                if sent != self.records:
                    raise FramingError(f"writer sent {sent} records, {self.records} arrived")
                self.ended = True
            else:
                raise FramingError(f"unknown frame kind {kind}")

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
                chunk = os.read(fd, READ_BYTES)
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
