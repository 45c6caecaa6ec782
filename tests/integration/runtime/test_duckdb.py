"""DuckDB sinks and sources in real runs: typed tables, upsert, replace, rollback."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from runink.runtime.executor import Executor
from tests.integration.runtime.test_pipelines import compile_feature, faults_repo

pytestmark = pytest.mark.timeout(180)


def run(
    repo: Path,
    feature: str,
    scenario: str,
    run_dir: Path,
    *,
    data_dir: Path | None = None,
    source: str | None = None,
):  # type: ignore[no-untyped-def]
    plan, contracts = compile_feature(repo, feature, scenario)
    return Executor(timeout=120).run(
        plan,
        contracts=contracts,
        repo_dir=repo,
        data_dir=data_dir or repo,  # type: ignore[arg-type]
        run_dir=run_dir,
        source=source,
    )


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_trades_land_in_a_typed_table_and_upsert_is_idempotent(
    example_repo: Path, tmp_path: Path
) -> None:
    golden = "jsonl://golden/trades/validate/input.jsonl"
    for _ in range(2):
        result = run(
            example_repo, "features/trades.dsl", "Validate trades", tmp_path, source=golden
        )
        assert result.ok, result.to_dict()
    db = tmp_path / "warehouse.duckdb"
    assert rows(db, "SELECT trade_id, quantity, trader_email FROM silver.trades ORDER BY 1") == [
        ("T000001", 100, "[REDACTED]"),
        ("T000002", 10000, "[REDACTED]"),
        ("T000006", 2500, "[REDACTED]"),
    ]
    types = dict(
        rows(
            db,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'trades'",
        )
    )
    assert types["quantity"] == "BIGINT" and types["traded_at"] == "TIMESTAMP WITH TIME ZONE"
    keys = rows(
        db,
        "SELECT constraint_type FROM information_schema.table_constraints "
        "WHERE table_name = 'trades'",
    )
    assert ("PRIMARY KEY",) in keys


def test_daily_exposure_reads_the_table_and_replaces_its_output(
    example_repo: Path, tmp_path: Path
) -> None:
    golden = "jsonl://golden/trades/validate/input.jsonl"
    assert run(example_repo, "features/trades.dsl", "Validate trades", tmp_path, source=golden).ok
    for _ in range(2):  # replace: a second run does not double the rows
        result = run(
            example_repo, "features/trades.dsl", "Daily exposure", tmp_path, data_dir=tmp_path
        )
        assert result.ok, result.to_dict()
    exposure = rows(
        tmp_path / "warehouse.duckdb",
        "SELECT symbol, currency, trades, notional FROM gold.exposure ORDER BY 1",
    )
    assert exposure == [("AAPL", "USD", 1, 18950.0), ("MSFT", "USD", 1, 4102500.0)]


def test_a_failed_run_leaves_the_table_as_it_was(example_repo: Path, tmp_path: Path) -> None:
    faults_repo(example_repo)
    feature = example_repo / "features/faults.dsl"
    feature.write_text(
        feature.read_text().replace(
            '@sink("jsonl://out/all.jsonl")', '@sink("duckdb://w.duckdb#numbers")'
        )
    )
    (example_repo / "data/numbers.jsonl").write_text(
        "".join(json.dumps({"n": i}) + "\n" for i in range(3000))  # crashes at n == 3
    )
    result = run(example_repo, "features/faults.dsl", "Crashes", tmp_path)
    assert not result.ok
    db = tmp_path / "w.duckdb"
    if db.exists():
        assert rows(
            db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'numbers'"
        ) == [(0,)]
