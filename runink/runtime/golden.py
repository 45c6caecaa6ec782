"""Golden tests: run a scenario on its golden input and compare with what is expected.

The run is real (slices, pipes, steps), but every sink writes a JSON-lines file in
a scratch directory instead of its warehouse, so a test never touches real outputs.
``expected.jsonl`` is what the first sink must receive; ``expected_dlq.jsonl`` what
the DLQ must receive (``step``, ``record``, and ``contract`` where given). Records
are matched by primary key where the contract has one (so order does not matter and
a changed field is reported as such), otherwise as a multiset.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from runink.compiler.plan import Plan
from runink.repo.snapshot import RepoSnapshot
from runink.runtime.executor import Executor, RunResult, sink_contract

Record = dict[str, Any]


@dataclass(frozen=True)
class FieldChange:
    key: str
    field: str
    expected: Any
    actual: Any


@dataclass(frozen=True)
class Diff:
    """How actual records differ from expected ones."""

    missing: tuple[Record, ...] = ()
    unexpected: tuple[Record, ...] = ()
    changed: tuple[FieldChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.missing or self.unexpected or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "changed": [c.__dict__ for c in self.changed],
        }


@dataclass(frozen=True)
class GoldenResult:
    plan: Plan
    golden: str
    run: RunResult
    output: Diff
    dlq: Diff
    actual_output: tuple[Record, ...] = field(default=(), repr=False)
    actual_dlq: tuple[Record, ...] = field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        return self.run.ok and self.output.empty and self.dlq.empty

    def describe(self) -> list[str]:
        """The run failure and every record difference, one line each."""
        lines: list[str] = []
        if not self.run.ok:
            failed = [f"{s.id}: {s.error}" for s in self.run.slices if s.state == "failed"]
            lines.append("run failed: " + "; ".join(failed or list(self.run.problems)))
        for label, diff in (("output", self.output), ("dlq", self.dlq)):
            for record in diff.missing:
                lines.append(f"{label}: missing    {orjson.dumps(record).decode()}")
            for record in diff.unexpected:
                lines.append(f"{label}: unexpected {orjson.dumps(record).decode()}")
            for change in diff.changed:
                expected = orjson.dumps(change.expected).decode()
                actual = orjson.dumps(change.actual).decode()
                lines.append(
                    f"{label}: changed    {change.key}.{change.field}: "
                    f"expected {expected}, got {actual}"
                )
        return lines


def _read(path: Path) -> list[Record]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _canonical(record: Any) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def diff_records(expected: list[Record], actual: list[Record], keys: list[str]) -> Diff:
    """Missing, unexpected and changed records; by ``keys`` when there are any."""
    if keys:

        def key_of(r: Record) -> str:
            return "/".join(str(r.get(k)) for k in keys)

        want = {key_of(r): r for r in expected}
        got = {key_of(r): r for r in actual}
        changed = [
            FieldChange(k, f, want[k].get(f), got[k].get(f))
            for k in sorted(want.keys() & got.keys())
            for f in sorted(want[k].keys() | got[k].keys())
            if want[k].get(f) != got[k].get(f)
        ]
        return Diff(
            tuple(want[k] for k in sorted(want.keys() - got.keys())),
            tuple(got[k] for k in sorted(got.keys() - want.keys())),
            tuple(changed),
        )
    want_counts = Counter(_canonical(r) for r in expected)
    got_counts = Counter(_canonical(r) for r in actual)
    return Diff(
        tuple(orjson.loads(b) for b in (want_counts - got_counts).elements()),
        tuple(orjson.loads(b) for b in (got_counts - want_counts).elements()),
    )


def _dlq_view(entries: list[Record], like: list[Record]) -> list[Record]:
    """DLQ entries as golden files hold them: step, record, and contract where given."""
    with_contract = any("contract" in e for e in like)
    view = []
    for entry in entries:
        item = {"step": entry.get("step"), "record": entry.get("record")}
        if with_contract and entry.get("contract") is not None:
            item["contract"] = entry["contract"]
        view.append(item)
    return view


def run_golden(
    plan: Plan,
    snapshot: RepoSnapshot,
    repo_dir: Path,
    work_dir: Path | None = None,
    executor: Executor | None = None,
) -> GoldenResult:
    """Run ``plan`` on its golden input and compare (the plan must name a golden set)."""
    assert plan.golden is not None  # the compiler checked that the set exists
    contracts: Mapping[str, Any] = {c.id: c.document for c in snapshot.contracts}
    sinks = [n for n in plan.nodes if n.kind == "sink"]
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        run_dir = Path(scratch)
        overrides = {s.id: f"jsonl://golden-out/{s.id}.jsonl" for s in sinks}
        run = (executor or Executor(timeout=600)).run(
            plan,
            contracts=contracts,
            repo_dir=repo_dir,
            data_dir=repo_dir,
            run_dir=run_dir,
            source=f"jsonl://{plan.golden}/input.jsonl",
            sinks=overrides,
        )
        actual = _read(run_dir / "golden-out" / f"{sinks[0].id}.jsonl")
        dlq = _read(Path(run.dlq))
    expected = _read(repo_dir / plan.golden / "expected.jsonl")
    expected_dlq = _read(repo_dir / plan.golden / "expected_dlq.jsonl")
    keys = list(sinks[0].params.get("keys") or [])
    contract_id = sink_contract(plan, sinks[0].id)
    contract = snapshot.contract(contract_id) if contract_id else None
    if not keys and contract is not None and contract.schemas:
        keys = [p.name for p in contract.schemas[0].properties if p.primary_key]
    dlq_actual = _dlq_view(dlq, expected_dlq)
    return GoldenResult(
        plan=plan,
        golden=plan.golden,
        run=run,
        output=diff_records(expected, actual, keys),
        dlq=diff_records(expected_dlq, dlq_actual, []),
        actual_output=tuple(actual),
        actual_dlq=tuple(dlq_actual),
    )


def update_golden(result: GoldenResult, repo_dir: Path) -> list[Path]:
    """Write what the run produced as the new expected files (``runi test --update``)."""
    base = repo_dir / result.golden
    written = []
    for name, records in (
        ("expected.jsonl", result.actual_output),
        ("expected_dlq.jsonl", result.actual_dlq),
    ):
        path = base / name
        path.write_bytes(b"".join(_canonical(r) + b"\n" for r in records))
        written.append(path)
    return written
