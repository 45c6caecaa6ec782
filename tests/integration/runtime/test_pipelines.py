"""Example-repo pipelines as process graphs: golden output, failing and crashing user code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runink.compiler import Compiler, Plan
from runink.repo import load_repo
from runink.runtime.executor import Executor, RunResult
from tests.unit.lineage.test_events import assert_valid_data

pytestmark = pytest.mark.timeout(180)


def compile_feature(repo: Path, feature: str, scenario: str) -> tuple[Plan, dict[str, object]]:
    snapshot = load_repo(repo)
    result = Compiler().compile(snapshot, only=feature)
    assert result.ok, [str(f) for f in result.findings]
    plan = next(p for p in result.plans if p.scenario == scenario)
    return plan, {c.id: c.document for c in snapshot.contracts}


def run(
    repo: Path, plan: Plan, contracts: dict[str, object], run_dir: Path, source: str
) -> RunResult:
    return Executor(timeout=120).run(
        plan,
        contracts=contracts,  # type: ignore[arg-type]
        repo_dir=repo,
        data_dir=repo,
        run_dir=run_dir,
        source=source,
    )


def jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_validate_trades_matches_its_golden_set_as_processes(
    example_repo: Path, tmp_path: Path
) -> None:
    feature = example_repo / "features/trades.dsl"
    feature.write_text(
        feature.read_text().replace(
            '@sink("duckdb://warehouse.duckdb#silver.trades", mode="upsert")',
            '@sink("jsonl://silver/trades.jsonl")',
        )
    )
    plan, contracts = compile_feature(example_repo, "features/trades.dsl", "Validate trades")
    golden = example_repo / "golden/trades/validate"
    result = run(
        example_repo, plan, contracts, tmp_path, "jsonl://golden/trades/validate/input.jsonl"
    )
    assert result.ok, result.to_dict()
    assert jsonl(tmp_path / "silver/trades.jsonl") == jsonl(golden / "expected.jsonl")
    got = sorted(
        (
            (d["step"], json.dumps(d["record"], sort_keys=True), d["contract"])
            for d in jsonl(tmp_path / "dlq/trades.jsonl")
        ),
    )
    want = sorted(
        (
            (d["step"], json.dumps(d["record"], sort_keys=True), d.get("contract"))
            for d in jsonl(golden / "expected_dlq.jsonl")
        ),
    )
    assert got == want
    assert all(
        d["reason"] and d["run_id"] == result.run_id for d in jsonl(tmp_path / "dlq/trades.jsonl")
    )
    assert [r["trade_id"] for r in jsonl(tmp_path / "out/large_trades.jsonl")] == ["T000002"]
    assert result.totals == {"read": 6, "written": 4, "dlq": 3, "filtered": 0}
    start, end = (json.loads(p.read_text()) for p in sorted((tmp_path / "lineage").glob("*.json")))
    assert (start["eventType"], end["eventType"]) == ("START", "COMPLETE")
    for event in (start, end):
        assert_valid_data(event)
        assert event["run"]["runId"] == result.run_id
    written = {o["name"]: o["outputFacets"]["outputStatistics"]["rowCount"] for o in end["outputs"]}
    assert written == {"silver/trades.jsonl": 3, "out/large_trades.jsonl": 1}
    assert "carol.trader" not in json.dumps(end)  # a rejected record's values stay out


STEPS = """
import os
from runink import step

@step("Explode")
def explode(record):
    if record["n"] % 2:
        raise ValueError(f"odd number {record['n']}")
    return record

@step("Crash")
def crash(record):
    if record["n"] == 3:
        os._exit(7)  # the slice process dies mid-run
    return record
"""

FEATURE = """@herd("finance")
Feature: Faults
  Scenario: Explodes
    @source("jsonl://data/numbers.jsonl")
    @step("Explode")
    @sink("jsonl://out/even.jsonl")

  Scenario: Crashes
    @source("jsonl://data/numbers.jsonl")
    @step("Crash")
    @sink("jsonl://out/all.jsonl")
"""


def faults_repo(repo: Path) -> None:
    (repo / "steps/faults.py").write_text(STEPS)
    (repo / "features/faults.dsl").write_text(FEATURE)
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data/numbers.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(6)))


def test_records_a_user_step_raises_on_go_to_the_dlq_with_the_user_traceback(
    example_repo: Path, tmp_path: Path
) -> None:
    faults_repo(example_repo)
    plan, contracts = compile_feature(example_repo, "features/faults.dsl", "Explodes")
    result = run(example_repo, plan, contracts, tmp_path, "jsonl://data/numbers.jsonl")
    assert result.ok
    assert [r["n"] for r in jsonl(tmp_path / "out/even.jsonl")] == [0, 2, 4]
    dlq = jsonl(tmp_path / "dlq.jsonl")
    assert [d["record"]["n"] for d in dlq] == [1, 3, 5]
    assert dlq[0]["reason"] == "Explode raised ValueError: odd number 1"
    assert "steps/faults.py" in dlq[0]["traceback"] and "runink/" not in dlq[0]["traceback"]


def test_a_step_that_crashes_fails_the_run_naming_it_and_leaves_no_output(
    example_repo: Path, tmp_path: Path
) -> None:
    faults_repo(example_repo)
    plan, contracts = compile_feature(example_repo, "features/faults.dsl", "Crashes")
    result = run(example_repo, plan, contracts, tmp_path, "jsonl://data/numbers.jsonl")
    assert not result.ok
    crashed = next(s for s in result.slices if s.id == "crash")
    assert crashed.state == "failed" and crashed.error == "exited with status 7"
    assert not (tmp_path / "out/all.jsonl").exists()
    assert not list(tmp_path.rglob("*.partial"))
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["outcome"] == "failed"
