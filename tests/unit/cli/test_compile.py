"""``runi compile`` and ``runi graph`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import EXAMPLE_REPO, commit_all
from tests.unit.cli.test_lint import runi


def test_compile_prints_the_plans_as_json() -> None:
    result = runi("compile", str(EXAMPLE_REPO), "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["findings"] == []
    pipelines = [p["pipeline"] for p in data["plans"]]
    assert "finance/trades/validate-trades" in pipelines and len(pipelines) == 4
    assert all(len(p["hash"]) == 64 for p in data["plans"])


def test_compile_writes_stable_plan_files(tmp_path: Path) -> None:
    out1, out2 = tmp_path / "a", tmp_path / "b"
    assert runi("compile", str(EXAMPLE_REPO), "--out", str(out1)).returncode == 0
    assert runi("compile", str(EXAMPLE_REPO), "--out", str(out2)).returncode == 0
    plan = out1 / "finance/trades/validate-trades.json"
    assert plan.read_bytes() == (out2 / "finance/trades/validate-trades.json").read_bytes()
    assert json.loads(plan.read_bytes())["herd"] == "finance"


def test_compile_one_scenario_file_at_a_revision(example_repo: Path) -> None:
    sha = commit_all(example_repo)
    result = runi(
        "compile",
        str(example_repo),
        "--rev",
        sha,
        "--scenario",
        "features/orders.dsl",
        "-o",
        "json",
    )
    data = json.loads(result.stdout)
    assert [p["pipeline"] for p in data["plans"]] == ["ecommerce/orders/clean-orders"]
    assert data["plans"][0]["revision"] == sha


def test_compile_error_exits_1_with_position_and_hint(example_repo: Path) -> None:
    path = example_repo / "features/trades.dsl"
    path.write_text(path.read_text().replace('@step("DecodeTrade")', '@step("DecodTrade")'))
    result = runi("compile", str(example_repo))
    assert result.returncode == 1
    assert "features/trades.dsl:9:11" in result.stdout
    assert "did you mean 'DecodeTrade'?" in result.stdout
    lint = runi("lint", str(example_repo))
    assert lint.returncode == 1 and "features/trades.dsl:9:11" in lint.stdout


def test_unknown_scenario_file_is_a_usage_error() -> None:
    result = runi("compile", str(EXAMPLE_REPO), "--scenario", "features/nope.dsl")
    assert result.returncode == 2 and "features: " in result.stderr


def test_graph_dot_renders_and_mermaid_is_a_flowchart() -> None:
    dot = runi("graph", str(EXAMPLE_REPO), "--scenario", "features/trades.dsl")
    assert dot.returncode == 0
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=dot.stdout, capture_output=True, text=True, timeout=60, check=True
    )
    assert "<svg" in svg.stdout
    mermaid = runi(
        "graph", str(EXAMPLE_REPO), "--scenario", "features/trades.dsl", "--format", "mermaid"
    )
    assert mermaid.stdout.startswith("flowchart LR")
