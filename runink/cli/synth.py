"""``runi synth``: synthetic JSON-lines records from a contract."""

from __future__ import annotations

import contextlib
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, NoReturn

import click
import orjson

from runink.cli.output import EXIT_OK, EXIT_USAGE
from runink.contracts.synth import Synthetic, generate
from runink.findings import RuninkError, did_you_mean
from runink.repo import load_repo


@click.command("synth")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--contract", "contract_id", metavar="NAME", required=True, help="Contract id.")
@click.option(
    "--count", type=click.IntRange(min=0), required=True, help="How many records to write."
)
@click.option("--seed", type=int, required=True, help="The same seed gives the same bytes.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (complete, or not at all) instead of stdout.",
)
@click.option(
    "--invalid-ratio",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Share of records (0..1) that each break exactly one rule of the contract.",
)
@click.option("--schema", metavar="OBJECT", help="Schema object (when the contract has several).")
@click.option("--rev", help="Read this commit (from git, no checkout).")
def synth_command(
    path: Path,
    contract_id: str,
    count: int,
    seed: int,
    out: Path | None,
    invalid_ratio: float,
    schema: str | None,
    rev: str | None,
) -> None:
    """Write COUNT records that satisfy a contract, as JSON lines.

    Types, required, unique and primary keys, patterns, enums, ranges, lengths,
    formats and nested objects and arrays are honoured; --invalid-ratio mixes in
    records that each break one rule. A summary goes to stderr.

    Exit status: 0 written, 2 usage error or a contract that cannot be synthesized.
    """
    try:
        snapshot = load_repo(path, rev)
    except RuninkError as error:
        _fail(error)
    contract = snapshot.contract(contract_id)
    if contract is None:
        if f"contract:{contract_id}" in snapshot.broken:
            problem = f"contract {contract_id!r} in {path} is not valid"
            hint = "see `runi lint` for its errors"
        else:
            known = [c.id for c in snapshot.contracts]
            problem = f"no contract {contract_id!r} in {path}"
            hint = did_you_mean(contract_id, known) or f"contracts: {', '.join(known) or 'none'}"
        click.echo(f"runi: {problem}; {hint}", err=True)
        raise SystemExit(EXIT_USAGE)
    try:
        records = generate(contract, count, seed, invalid_ratio=invalid_ratio, schema=schema)
        written = _write(records, out)
    except RuninkError as error:
        _fail(error)
    click.echo(_summary(contract.id, written, out), err=True)
    raise SystemExit(EXIT_OK)


def _write(records: Iterable[Synthetic], out: Path | None) -> list[Synthetic]:
    if out is None:
        return _lines(records, sys.stdout.buffer)
    # A hidden partial file, renamed at the end: a failed run leaves no half-written output.
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as stream:
            written = _lines(records, stream)
        partial.replace(out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return written


def _lines(records: Iterable[Synthetic], stream: IO[bytes]) -> list[Synthetic]:
    written: list[Synthetic] = []
    for item in records:
        stream.write(_dumps(item.record) + b"\n")
        # Only what the summary needs is kept, not the records themselves.
        written.append(Synthetic({}, item.rule, item.field))
    stream.flush()
    return written


def _dumps(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record)
    except TypeError:  # an integer beyond 64 bits (a u128 property): orjson refuses those
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def _summary(contract_id: str, written: list[Synthetic], out: Path | None) -> str:
    where = str(out) if out is not None else "stdout"
    broken = Counter(item.rule for item in written if item.rule is not None)
    invalid = sum(broken.values())
    text = f"{contract_id}: {len(written)} record(s) to {where}: {len(written) - invalid} valid"
    if invalid:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(broken.items(), key=_by_count))
        text += f", {invalid} invalid ({rules})"
    return text


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _fail(error: RuninkError) -> NoReturn:
    # stdout carries the records: problems go to stderr only.
    for finding in error.findings:
        click.echo(f"runi: {finding}", err=True)
    raise SystemExit(EXIT_USAGE)
