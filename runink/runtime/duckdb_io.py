"""DuckDB sources and sinks: ``duckdb://file.duckdb#[schema.]table``.

The sink creates its table from the contract (types, primary key), writes every
batch of a run in one transaction, and commits when the input ended cleanly: a
failed run leaves the table as it was. ``mode``: ``append`` inserts, ``upsert``
inserts or updates by primary key (or ``keys=``), ``replace`` swaps the table's
content in the same transaction.

DuckDB lets one process write a database file at a time, so the source reads its
table and closes the file before sending records on, and the sink opens the file
when its first batch arrives, retrying while another slice holds the lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from runink.contracts.model import Contract
from runink.runtime.framing import Batch

Record = dict[str, Any]
LOCK_WAIT_SECONDS = 60.0

_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "time": "TIME",
    "object": "JSON",
    "map": "JSON",
    "array": "JSON",
    "vector": "JSON",
}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_name(fragment: str) -> tuple[str | None, str]:
    schema, _, table = fragment.rpartition(".")
    return (schema or None), table


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open ``path``, waiting (bounded) while another slice holds the file's lock."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def read_table(path: Path, fragment: str, batch_size: int) -> Iterator[list[Record]]:
    """Every row of the table, in batches; the file is closed before the first batch."""
    if not path.is_file():
        raise FileNotFoundError(f"DuckDB file {path} does not exist")
    schema, table = _table_name(fragment)
    qualified = f"{_ident(schema)}.{_ident(table)}" if schema else _ident(table)
    con = _connect(path, read_only=True)
    try:
        cursor = con.execute(f"SELECT * FROM {qualified}")  # noqa: S608 - identifiers quoted
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    finally:
        con.close()
    for start in range(0, len(rows), batch_size):
        yield [dict(zip(columns, row, strict=True)) for row in rows[start : start + batch_size]]


class DuckDBSink:
    """Writes a run's records into one table, in one transaction."""

    def __init__(
        self,
        path: Path,
        fragment: str,
        params: Mapping[str, Any],
        contract: Contract | None,
        stream: bool = False,
    ) -> None:
        self.path = path
        self.schema, self.table = _table_name(fragment)
        self.qualified = (
            f"{_ident(self.schema)}.{_ident(self.table)}" if self.schema else _ident(self.table)
        )
        self.mode = str(params.get("mode", "append"))
        self.stream = stream  # a stream commits each batch: there is no end to wait for
        self.contract = contract
        self.columns: dict[str, str] = {}
        self.keys: list[str] = list(params.get("keys") or self._contract_keys())
        self.con: duckdb.DuckDBPyConnection | None = None

    def _contract_keys(self) -> list[str]:
        if self.contract is None or not self.contract.schemas:
            return []
        props = [p for p in self.contract.schemas[0].properties if p.primary_key]
        props.sort(key=lambda p: p.primary_key_position or 0)
        return [p.name for p in props]

    def _columns_for(self, records: Sequence[Record]) -> dict[str, str]:
        if self.contract is not None and self.contract.schemas:
            return {
                p.name: _TYPES.get(p.logical_type or "", "VARCHAR")
                for p in self.contract.schemas[0].properties
            }
        columns: dict[str, str] = {}
        for record in records:
            for key, value in record.items():
                columns.setdefault(key, _type_of(value))
        return columns

    def _open(self, records: Sequence[Record]) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(self.path, read_only=False)
        con.execute("BEGIN TRANSACTION")
        self.columns = self._columns_for(records)
        if self.schema:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema)}")
        if self.mode == "replace":
            con.execute(f"DROP TABLE IF EXISTS {self.qualified}")
        definition = ", ".join(f"{_ident(c)} {t}" for c, t in self.columns.items())
        if self.keys:
            definition += f", PRIMARY KEY ({', '.join(_ident(k) for k in self.keys)})"
        con.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified} ({definition})")
        existing = [row[0] for row in con.execute(f"DESCRIBE {self.qualified}").fetchall()]
        self.columns = {c: t for c, t in self.columns.items() if c in existing}
        return con

    def write(self, batch: Batch) -> None:
        records = batch.records()
        if not records:
            return
        if self.con is None:
            self.con = self._open(records)
        if self.mode == "upsert" and self.keys:
            # One statement may not update a row twice: keep each key's last record.
            latest = {tuple(r.get(k) for k in self.keys): r for r in records}
            records = list(latest.values())
        names = list(self.columns)
        batch = pa.Table.from_pylist(
            [{c: _cell(r.get(c), self.columns[c]) for c in names} for r in records],
            schema=pa.schema([(c, _arrow_type(self.columns[c])) for c in names]),
        )
        self.con.register("runink_batch", batch)
        select = ", ".join(f"CAST({_ident(c)} AS {self.columns[c]})" for c in names)
        insert = (
            f"INSERT INTO {self.qualified} ({', '.join(_ident(c) for c in names)}) "  # noqa: S608
            f"SELECT {select} FROM runink_batch"
        )
        if self.mode == "upsert" and self.keys:
            updates = ", ".join(
                f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in names if c not in self.keys
            )
            keys = ", ".join(_ident(k) for k in self.keys)
            insert += f" ON CONFLICT ({keys}) DO " + (
                f"UPDATE SET {updates}" if updates else "NOTHING"
            )
        self.con.execute(insert)
        self.con.unregister("runink_batch")
        if self.stream:
            self.con.execute("COMMIT")
            self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        if self.con is None:
            if self.mode == "replace":  # an empty run replaces the table with nothing
                self.con = self._open([])
            else:
                return
        self.con.execute("COMMIT")
        self.con.close()
        self.con = None

    def abort(self) -> None:
        if self.con is not None:
            self.con.execute("ROLLBACK")
            self.con.close()
            self.con = None


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, dict | list):
        return "JSON"
    return "VARCHAR"


def _arrow_type(sql: str) -> pa.DataType:
    """Batches travel as text/numbers; DuckDB casts them to the column types."""
    return {"BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}.get(
        sql, pa.string()
    )


def _cell(value: Any, sql: str) -> Any:
    if value is None:
        return None
    if sql == "JSON":
        return orjson.dumps(value).decode()
    if sql in ("BIGINT", "DOUBLE", "BOOLEAN"):
        return value
    return value if isinstance(value, str) else str(value)
