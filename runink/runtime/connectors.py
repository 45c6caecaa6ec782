"""Sources and sinks by URI scheme: where records come from and where they land.

A source yields batches of records plus the lines it could not read (they go to
the DLQ with a reason). A sink writes batches and makes them visible only on
``commit()``: file sinks write a ``.partial`` file and rename it, so a failed run
never leaves half an output behind.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from runink.runtime.framing import Batch, Rejected, check_lines
from runink.uris import SINK_SCHEMES, SOURCE_SCHEMES, Uri, parse_uri

if TYPE_CHECKING:  # a slice that has no contract to apply does not load the models
    from runink.contracts.model import Contract

Record = dict[str, Any]


class ConnectorError(Exception):
    """A source or sink that cannot be used (missing file, path outside the data dir)."""


def resolve(base: Path, uri: Uri) -> Path:
    """``uri``'s path under ``base``; symlinks may not lead out of it."""
    base = base.resolve()
    path = (base / uri.path).resolve()
    if not path.is_relative_to(base):
        raise ConnectorError(f"{uri} resolves outside {base}")
    return path


def read_source(
    text: str,
    data_dir: Path,
    batch_size: int,
    stopping: Callable[[], bool] = lambda: False,
    offsets: dict[Path, int] | None = None,
    check: bool = True,
) -> Iterator[tuple[Batch | None, list[Rejected]]]:
    """Batches of records (and rejected input) from source URI ``text``.

    ``check=False``: JSON lines are sent on unparsed (:meth:`Batch.unchecked`), for a
    reader that parses them anyway.

    ``dir://`` sources stream until ``stopping()`` is true, reading each file from its
    entry in ``offsets`` (kept current); after each file's new lines they yield
    ``(None, [])``: a point where ``offsets`` may be checkpointed. The others end with
    their input.
    """
    uri = parse_uri(text, SOURCE_SCHEMES)
    if uri.scheme == "stdin":
        yield from _jsonl(_blocks(cast(io.BufferedIOBase, sys.stdin.buffer)), batch_size, check)
        return
    if uri.scheme == "dir":
        from runink.runtime.streams import new_lines

        pattern_path = resolve(data_dir, uri)
        for chunk in new_lines(pattern_path.parent, pattern_path.name, stopping, offsets):
            yield from _jsonl(iter((chunk,)), batch_size, check)
            yield None, []
        return
    path = resolve(data_dir, uri)
    if not (path.is_file() or path.is_fifo()):
        raise ConnectorError(f"source {path} does not exist")
    if uri.scheme == "jsonl":
        with path.open("rb") as handle:
            yield from _jsonl(_blocks(handle), batch_size, check)
    elif uri.scheme == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            for records, rejected in _csv(handle, batch_size):
                yield Batch.of_records(records), rejected
    elif uri.scheme == "duckdb":
        from runink.runtime.duckdb_io import read_table

        for batch in read_table(path, uri.fragment or "", batch_size):
            yield Batch.of_records(batch), []
    elif uri.scheme == "parquet":
        import pyarrow.parquet as pq

        for record_batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
            yield Batch.of_records(record_batch.to_pylist()), []
    else:
        raise ConnectorError(
            f"{uri.scheme}:// sources are not available in this version of runi run "
            "(jsonl, csv, parquet, duckdb and stdin are)"
        )


def _blocks(handle: io.BufferedIOBase, size: int = 1 << 20) -> Iterator[bytes]:
    """What is there to read, up to ``size`` bytes at a time (a pipe does not wait to fill)."""
    while block := handle.read1(size):
        yield block


def _jsonl(
    blocks: Iterator[bytes], batch_size: int, check: bool = True
) -> Iterator[tuple[Batch, list[Rejected]]]:
    """JSON lines in batches; the lines themselves travel on, unparsed by anyone else.

    With ``check``, each batch is proved to hold only JSON objects (the lines that are
    not go back as rejected); without, the lines go unchecked to a reader that checks
    them (framing's LINES frames).
    """
    pending: list[bytes] = []
    number = 1  # line number of pending[0]
    carry = b""

    def take(lines: list[bytes], first: int) -> tuple[Batch, list[Rejected]]:
        if not check:
            return Batch.unchecked(lines, first), []
        batch, rejected, _ = check_lines(lines, first)
        return batch, rejected

    for block in blocks:
        lines = (carry + block).split(b"\n")
        carry = lines.pop()
        pending.extend(lines)
        while len(pending) >= batch_size:
            yield take(pending[:batch_size], number)
            del pending[:batch_size]
            number += batch_size
    if carry:
        pending.append(carry)
    if pending:
        yield take(pending, number)


def _csv(handle: Any, batch_size: int) -> Iterator[tuple[list[Record], list[Rejected]]]:
    reader = csv.DictReader(handle)
    records: list[Record] = []
    rejected: list[Rejected] = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            rejected.append(Rejected(str(row), f"line {reader.line_num}: wrong number of columns"))
        else:
            records.append(dict(row))
        if len(records) + len(rejected) >= batch_size:
            yield records, rejected
            records, rejected = [], []
    if records or rejected:
        yield records, rejected


class Sink(Protocol):
    def write(self, batch: Batch) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class FileSink:
    """jsonl/csv: writes ``<file>.partial``, renamed over ``<file>`` on commit.

    In a stream there is no end to wait for: each batch is appended to ``<file>``
    and flushed to disk before the next is taken.
    """

    def __init__(self, path: Path, scheme: str, run_id: str, stream: bool = False) -> None:
        self.path = path
        self.scheme = scheme
        self.stream = stream
        path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = path if stream else path.with_name(f".{path.name}.{run_id}.partial")
        self.handle = self.partial.open("ab" if stream else "wb")
        self.columns: list[str] | None = None

    def write(self, batch: Batch) -> None:
        self._write(batch)
        if self.stream:
            self.handle.flush()
            os.fsync(self.handle.fileno())

    def _write(self, batch: Batch) -> None:
        if not batch.count:
            return
        if self.scheme == "jsonl":  # the lines as they travelled: nothing to re-encode
            self.handle.write(batch.payload() + b"\n")
            return
        records = batch.records()
        text = io.StringIO()
        if self.columns is None:
            self.columns = list(dict.fromkeys(k for r in records for k in r))
            csv.writer(text).writerow(self.columns)
        writer = csv.DictWriter(text, self.columns, extrasaction="ignore")
        writer.writerows(records)
        self.handle.write(text.getvalue().encode())

    def commit(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        if not self.stream:
            os.replace(self.partial, self.path)

    def abort(self) -> None:
        self.handle.close()
        if not self.stream:  # a stream's batches were committed one by one
            self.partial.unlink(missing_ok=True)


class ParquetSink:
    """Parquet: row groups written to ``<file>.partial`` as batches arrive, renamed on
    commit. The schema is the first batch's (later batches are cast to it)."""

    def __init__(self, path: Path, run_id: str) -> None:
        import pyarrow.parquet as pq

        self.pq = pq
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = path.with_name(f".{path.name}.{run_id}.partial")
        self.writer: Any = None
        self.schema: Any = None

    def write(self, batch: Batch) -> None:
        import pyarrow as pa

        records = batch.records()
        if not records:
            return
        if self.writer is None:
            table = pa.Table.from_pylist(records)
            self.schema = table.schema
            self.writer = self.pq.ParquetWriter(str(self.partial), self.schema)
        else:
            table = pa.Table.from_pylist(records, schema=self.schema)
        self.writer.write_table(table)

    def commit(self) -> None:
        if self.writer is None:  # no records: an empty file with no columns
            import pyarrow as pa

            self.writer = self.pq.ParquetWriter(str(self.partial), pa.schema([]))
        self.writer.close()
        with self.partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.partial.unlink(missing_ok=True)


class StdoutSink:
    def write(self, batch: Batch) -> None:
        if batch.count:
            sys.stdout.buffer.write(batch.payload() + b"\n")

    def commit(self) -> None:
        sys.stdout.flush()

    def abort(self) -> None:
        sys.stdout.flush()


def open_sink(
    text: str,
    run_dir: Path,
    params: Mapping[str, Any],
    run_id: str,
    contract: Contract | None = None,
    stream: bool = False,
) -> Sink:
    """The sink for URI ``text`` (relative paths under ``run_dir``)."""
    uri = parse_uri(text, SINK_SCHEMES)
    if uri.scheme == "stdout":
        return StdoutSink()
    if uri.scheme in ("jsonl", "csv"):
        return FileSink(resolve(run_dir, uri), uri.scheme, run_id, stream)
    if uri.scheme == "duckdb":
        from runink.runtime.duckdb_io import DuckDBSink

        return DuckDBSink(resolve(run_dir, uri), uri.fragment or "", params, contract, stream)
    if uri.scheme == "parquet":
        return ParquetSink(resolve(run_dir, uri), run_id)
    raise ConnectorError(f"{uri.scheme}:// is not a sink")
