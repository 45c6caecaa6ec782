"""Every example-repo scenario runs with `runi run`, as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import EXAMPLE_REPO
from tests.unit.cli.test_lint import runi

pytestmark = pytest.mark.timeout(300)


def test_every_example_scenario_runs(tmp_path: Path) -> None:
    trades = tmp_path / "trades"
    steps = [
        (
            "--scenario",
            "features/trades.dsl",
            "--name",
            "Validate trades",
            "--run-dir",
            str(trades),
        ),
        (
            "--scenario",
            "features/trades.dsl",
            "--name",
            "Daily exposure",
            "--data-dir",
            str(trades),
            "--run-dir",
            str(trades),
        ),
        ("--scenario", "features/orders.dsl", "--run-dir", str(tmp_path / "orders")),
        ("--scenario", "features/customers.dsl", "--run-dir", str(tmp_path / "customers")),
    ]
    for args in steps:
        result = runi("run", str(EXAMPLE_REPO), *args, "-o", "json")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert all(r["outcome"] == "succeeded" for r in json.loads(result.stdout))
    con = duckdb.connect(str(trades / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM silver.trades").fetchone() == (3,)
        assert con.execute("SELECT count(*) FROM gold.exposure").fetchone() == (2,)
    finally:
        con.close()
    customers = duckdb.connect(str(tmp_path / "customers/shop.duckdb"), read_only=True)
    try:
        names = customers.execute("SELECT DISTINCT full_name FROM silver.customers").fetchall()
    finally:
        customers.close()
    assert len(names) == 20 and all(n[0].startswith("hmac:") for n in names)  # MaskPII hash
    assert not (EXAMPLE_REPO / "warehouse.duckdb").exists()  # runs never write into the repo
