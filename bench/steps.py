"""How fast does ValidateContract check records? Against jsonschema, on the same records.

The ``trade`` contract of example-repo, 100k trades (5% broken in one way or
another), in batches of 1,000:

* ``ValidateContract``: the built-in step (compiled checker, DLQ entries, reasons,
  primary-key tracking), through ``make_step``;
* ``checker.check``: the compiled checker alone, per record;
* ``jsonschema iter_errors``: the baseline doing the same job (every violation of
  every record), Draft 2020-12 with the FormatChecker, on a JSON Schema made from
  the contract (types, required, enum, pattern, bounds, formats). It cannot check
  uniqueness across records, and its FormatChecker has no ``date-time`` unless
  rfc3339-validator is installed (the table says which formats it checked);
* ``jsonschema is_valid``: jsonschema's fastest path (stops at the first error).

Each is run REPEAT times; the median counts. Prints a table and writes
bench/results/steps.json.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from runink.contracts.checker import compile_checker
from runink.contracts.model import Contract, ContractProperty
from runink.repo.loader import load_repo
from runink.steps.runtime import StepContext, make_step

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 100_000
BATCH = 1_000
REPEAT = 3

_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
    "date": "string",
    "timestamp": "string",
    "time": "string",
}
_FORMATS = {"date": "date", "timestamp": "date-time", "time": "time"}
_KEYWORDS = (
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "format",
)


def property_schema(prop: ContractProperty) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if prop.logical_type in _TYPES:
        schema["type"] = _TYPES[prop.logical_type]
    if prop.logical_type in _FORMATS:
        schema["format"] = _FORMATS[prop.logical_type]
    schema.update({k: v for k, v in prop.options.items() if k in _KEYWORDS})
    if prop.enum:
        schema["enum"] = list(prop.enum)
    if prop.properties:
        schema["properties"] = {p.name: property_schema(p) for p in prop.properties}
        schema["required"] = [p.name for p in prop.properties if p.required]
    if prop.items is not None:
        schema["items"] = property_schema(prop.items)
    return schema


def json_schema(contract: Contract) -> dict[str, Any]:
    """The contract's one schema object as JSON Schema draft 2020-12."""
    obj = contract.schemas[0]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {p.name: property_schema(p) for p in obj.properties},
        "required": [p.name for p in obj.properties if p.required or p.primary_key],
    }


def trades() -> list[dict[str, Any]]:
    symbols = ["AAPL", "MSFT", "SAP", "VOD", "IBM"]
    out = []
    for i in range(RECORDS):
        quantity = i % 1000 + 1
        price = round(10.0 + (i % 997) / 7, 2)
        record: dict[str, Any] = {
            "trade_id": f"T{i:06d}",
            "symbol": symbols[i % 5],
            "side": "BUY" if i % 2 else "SELL",
            "quantity": quantity,
            "price": price,
            "notional": round(quantity * price, 2),
            "currency": ("USD", "EUR", "GBP")[i % 3],
            "trader_email": f"trader{i % 50}@bank.example",
            "traded_at": f"2026-11-02T{9 + i % 8:02d}:{i % 60:02d}:00Z",
        }
        broken = i % 20 == 7  # 5%, each broken in one of four ways
        if broken:
            kind = (i // 20) % 4
            if kind == 0:
                record["side"] = "HOLD"
            elif kind == 1:
                record["quantity"] = 0
            elif kind == 2:
                record["trader_email"] = "not-an-email"
            else:
                del record["symbol"]
        out.append(record)
    return out


def timed(run: Callable[[], int]) -> tuple[float, int]:
    times = []
    rejected = 0
    for _ in range(REPEAT):
        start = time.perf_counter()
        rejected = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), rejected


def main() -> None:
    snapshot = load_repo(ROOT / "example-repo")
    contracts = {c.id: c for c in snapshot.contracts}
    trade = contracts["trade"]
    data = trades()
    batches = [data[i : i + BATCH] for i in range(0, len(data), BATCH)]
    ctx = StepContext(
        run_id="bench", herd="finance", pipeline="bench", step_id="validate", contracts=contracts
    )

    def validate_step() -> int:
        step = make_step("ValidateContract", {"contract": "trade"}, ctx)
        return sum(len(step.process(batch).dlq) for batch in batches)

    def checker_alone() -> int:
        check = compile_checker(trade).check
        return sum(1 for record in data if check(record))

    schema = json_schema(trade)
    format_checker = jsonschema.FormatChecker()
    validator = jsonschema.Draft202012Validator(schema, format_checker=format_checker)
    formats = sorted(
        {p.get("format") for p in schema["properties"].values() if p.get("format")}
        & set(format_checker.checkers)
    )

    def jsonschema_errors() -> int:
        iter_errors = validator.iter_errors
        return sum(1 for record in data if list(iter_errors(record)))

    def jsonschema_is_valid() -> int:
        is_valid = validator.is_valid
        return sum(1 for record in data if not is_valid(record))

    rows: list[dict[str, Any]] = []
    for name, run in (
        ("ValidateContract", validate_step),
        ("checker.check", checker_alone),
        ("jsonschema iter_errors", jsonschema_errors),
        ("jsonschema is_valid", jsonschema_is_valid),
    ):
        seconds, rejected = timed(run)
        rows.append(
            {
                "validator": name,
                "seconds": seconds,
                "records_per_s": RECORDS / seconds,
                "rejected": rejected,
            }
        )
    baseline = rows[2]["records_per_s"]
    for row in rows:
        row["vs_jsonschema_iter_errors"] = row["records_per_s"] / baseline

    header = (
        f"{'validator':<24} {'seconds':>8} {'records/s':>12} {'x jsonschema':>13} {'rejected':>9}"
    )
    print(f"trade contract, {RECORDS:,} records ({RECORDS // 20:,} broken), median of {REPEAT}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['validator']:<24} {r['seconds']:>8.3f} {r['records_per_s']:>12,.0f} "
            f"{r['vs_jsonschema_iter_errors']:>13.1f} {r['rejected']:>9,}"
        )
    print(f"jsonschema checked formats: {', '.join(formats) or 'none'}")
    out = ROOT / "bench" / "results" / "steps.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "steps",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "contract": "trade",
        "records": RECORDS,
        "broken": RECORDS // 20,
        "batch": BATCH,
        "repeat": REPEAT,
        "jsonschema_version": importlib.metadata.version("jsonschema"),
        "jsonschema_formats_checked": formats,
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
