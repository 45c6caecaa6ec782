"""Golden tests of the affected scenarios only, in parallel up to the core count."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runink.compiler.plan import Plan
from runink.findings import Finding, Position
from runink.repo.snapshot import RepoSnapshot
from runink.runtime.golden import Diff, run_golden


@dataclass(frozen=True)
class GoldenOutcome:
    """One golden test as the audit reports it."""

    pipeline: str
    golden: str
    passed: bool
    lines: tuple[str, ...]
    output: Diff
    dlq: Diff
    position: Position

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "golden": self.golden,
            "passed": self.passed,
            "diff": list(self.lines),
            "output": self.output.to_dict(),
            "dlq": self.dlq.to_dict(),
        }

    def finding(self) -> Finding:
        return Finding(
            "golden.failed",
            f"golden test of {self.pipeline} ({self.golden}) failed: "
            + "; ".join(self.lines[:5])
            + (f"; ... {len(self.lines) - 5} more" if len(self.lines) > 5 else ""),
            self.position,
            hint="run `runi test --scenario` to see the run, or `runi test --update` if the "
            "new output is right",
        )


def plan_position(plan: Plan) -> Position:
    """Where the scenario's source tag is written (``features/x.dsl:8:5``)."""
    text = plan.nodes[0].position if plan.nodes else ""
    file, _, rest = text.partition(":")
    line, _, column = rest.partition(":")
    if file and line.isdigit():
        return Position(file, int(line), int(column) if column.isdigit() else 1)
    return Position(next(iter(plan.inputs), plan.feature))


def run_affected(
    plans: Iterable[Plan],
    snapshot: RepoSnapshot,
    repo_dir: Path | None,
    read: Callable[[str], bytes | None],
    workers: int | None = None,
) -> tuple[GoldenOutcome, ...]:
    """Run the golden test of each plan that has one.

    ``repo_dir`` is the work tree holding the files; when None (a commit, e.g. in a
    bare repository) the user step modules and golden sets are written to a scratch
    directory first, read through ``read(path)``.
    """
    todo = [p for p in plans if p.golden]
    if not todo:
        return ()
    with tempfile.TemporaryDirectory(prefix="runink-audit-") as scratch:
        root = repo_dir
        if root is None:
            root = Path(scratch) / "repo"
            wanted = [m.path for m in snapshot.steps]
            golden_dirs = {p.golden for p in todo}
            for golden in snapshot.golden:
                if golden.path in golden_dirs:
                    wanted += [
                        f.path
                        for f in (golden.input, golden.expected, golden.expected_dlq)
                        if f is not None
                    ]
            for path in wanted:
                data = read(path)
                if data is not None:
                    target = root / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
        work = Path(scratch) / "runs"
        work.mkdir()
        count = max(1, min(len(todo), workers or os.cpu_count() or 1))

        def one(plan: Plan) -> GoldenOutcome:
            result = run_golden(plan, snapshot, root, work_dir=work)
            return GoldenOutcome(
                plan.pipeline,
                plan.golden or "",
                result.passed,
                tuple(result.describe()),
                result.output,
                result.dlq,
                plan_position(plan),
            )

        with ThreadPoolExecutor(max_workers=count) as pool:
            return tuple(pool.map(one, todo))
