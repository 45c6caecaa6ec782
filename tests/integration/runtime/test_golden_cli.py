"""``runi test``: golden runs, key-aware diffs, --update, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.unit.cli.test_lint import runi

pytestmark = pytest.mark.timeout(300)


def test_example_golden_sets_pass_and_junit_says_so(example_repo: Path, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = runi("test", str(example_repo), "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS finance/trades/validate-trades" in result.stdout
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "0"


def test_a_changed_field_is_reported_by_primary_key(example_repo: Path, tmp_path: Path) -> None:
    expected = example_repo / "golden/trades/validate/expected.jsonl"
    lines = expected.read_text().splitlines()
    first = json.loads(lines[0])
    first["notional"] = 1.0
    lines[0] = json.dumps(first)
    expected.write_text("\n".join(lines[:2]) + "\n")  # and drop the third record
    junit = tmp_path / "junit.xml"
    result = runi(
        "test", str(example_repo), "--scenario", "features/trades.dsl", "--junit", str(junit)
    )
    assert result.returncode == 1
    assert "FAIL finance/trades/validate-trades" in result.stdout
    assert "changed    T000001.notional: expected 1.0, got 18950.0" in result.stdout
    assert 'unexpected {"trade_id":"T000006"' in result.stdout
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure is not None and "T000001.notional" in (failure.text or "")


def test_a_dlq_difference_fails_the_test(example_repo: Path) -> None:
    dlq = example_repo / "golden/orders/clean/expected_dlq.jsonl"
    dlq.write_text(dlq.read_text().splitlines()[0] + "\n")
    result = runi("test", str(example_repo), "--scenario", "features/orders.dsl", "-o", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)[0]
    assert not report["passed"] and report["output"]["missing"] == []
    assert [u["record"]["order_id"] for u in report["dlq"]["unexpected"]] == ["O000004"]


def test_update_rewrites_the_expected_files_and_then_they_pass(example_repo: Path) -> None:
    expected = example_repo / "golden/orders/clean/expected.jsonl"
    expected.write_text("")
    assert runi("test", str(example_repo), "--update").returncode == 0
    assert len(expected.read_text().splitlines()) == 2
    assert runi("test", str(example_repo)).returncode == 0
