"""Which codec should carry record batches between slices? Measured, not chosen by taste.

Candidates (DESIGN §5): orjson (a batch is one JSON array), msgpack, Arrow IPC.
For each: encode + decode of 200k ~100-byte records in batches of 1,000, the bytes on
the wire, and the same batches through a real os.pipe() from a forked writer to a
reader that decodes them (what a slice pays). Prints a table and writes
bench/results/framing.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 200_000
BATCH = 1_000
REPEAT = 3

Codec = tuple[Callable[[list[dict[str, Any]]], bytes], Callable[[bytes], list[dict[str, Any]]]]


def records() -> list[dict[str, Any]]:
    symbols = ["AAPL", "MSFT", "SAP", "VOD", "IBM"]
    return [
        {
            "trade_id": f"T{i:06d}",
            "symbol": symbols[i % 5],
            "side": "BUY" if i % 2 else "SELL",
            "quantity": i % 1000 + 1,
            "price": 10.0 + (i % 997) / 7,
            "currency": "USD",
        }
        for i in range(RECORDS)
    ]


def codecs() -> dict[str, Codec]:
    found: dict[str, Codec] = {"orjson": (orjson.dumps, orjson.loads)}
    try:
        import msgpack

        found["msgpack"] = (msgpack.packb, lambda b: msgpack.unpackb(b, raw=False))
    except ImportError:
        print("msgpack not installed: skipped (pip install '.[bench]')", file=sys.stderr)
    try:
        import pyarrow as pa

        def arrow_encode(batch: list[dict[str, Any]]) -> bytes:
            table = pa.Table.from_pylist(batch)
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            return bytes(sink.getvalue())

        def arrow_decode(data: bytes) -> list[dict[str, Any]]:
            return pa.ipc.open_stream(data).read_all().to_pylist()  # type: ignore[no-any-return]

        found["arrow-ipc"] = (arrow_encode, arrow_decode)
    except ImportError:
        print("pyarrow not installed: skipped", file=sys.stderr)
    return found


def roundtrip(codec: Codec, batches: list[list[dict[str, Any]]]) -> tuple[float, float, int]:
    encode, decode = codec
    start = time.perf_counter()
    payloads = [encode(b) for b in batches]
    encoded = time.perf_counter()
    for p in payloads:
        decode(p)
    done = time.perf_counter()
    return encoded - start, done - encoded, sum(len(p) for p in payloads)


def through_pipe(codec: Codec, batches: list[list[dict[str, Any]]]) -> float:
    """Seconds for a forked writer to encode and a reader to decode every batch."""
    encode, decode = codec
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # writer
        os.close(read_fd)
        with os.fdopen(write_fd, "wb", buffering=1 << 16) as out:
            for b in batches:
                payload = encode(b)
                out.write(len(payload).to_bytes(4, "little"))
                out.write(payload)
        os._exit(0)
    os.close(write_fd)
    count = 0
    with os.fdopen(read_fd, "rb", buffering=1 << 16) as inp:
        while header := inp.read(4):
            count += len(decode(inp.read(int.from_bytes(header, "little"))))
    os.waitpid(pid, 0)
    assert count == RECORDS
    return time.perf_counter() - start


def main() -> None:
    data = records()
    batches = [data[i : i + BATCH] for i in range(0, len(data), BATCH)]
    rows = []
    for name, codec in codecs().items():
        enc, dec, size, pipe = [], [], 0, []
        for _ in range(REPEAT):
            e, d, size = roundtrip(codec, batches)
            enc.append(e)
            dec.append(d)
            pipe.append(through_pipe(codec, batches))
        rows.append(
            {
                "codec": name,
                "encode_s": statistics.median(enc),
                "decode_s": statistics.median(dec),
                "bytes_per_record": size / RECORDS,
                "pipe_s": statistics.median(pipe),
                "pipe_records_per_s": RECORDS / statistics.median(pipe),
            }
        )
    rows.sort(key=lambda r: r["pipe_s"])
    header = (
        f"{'codec':<10} {'encode s':>9} {'decode s':>9} {'B/record':>9} "
        f"{'pipe s':>8} {'records/s':>11}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['codec']:<10} {r['encode_s']:>9.3f} {r['decode_s']:>9.3f} "
            f"{r['bytes_per_record']:>9.1f} {r['pipe_s']:>8.3f} {r['pipe_records_per_s']:>11,.0f}"
        )
    print(f"fastest through a pipe: {rows[0]['codec']}")
    out = ROOT / "bench" / "results" / "framing.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "framing",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "records": RECORDS,
        "batch": BATCH,
        "repeat": REPEAT,
        "rows": rows,
        "chosen": rows[0]["codec"],
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
