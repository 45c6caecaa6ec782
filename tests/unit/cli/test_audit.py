"""``runi audit`` as CI runs it: real git repositories, one commit per case, real processes."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import commit_all, git
from tests.unit.cli.test_lint import runi

pytestmark = pytest.mark.timeout(180)

NEW_CURRENCY = "          - {value: GBP}\n"


def audit_json(repo: Path, base: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runi("audit", str(repo), "--base", base, "-o", "json", *extra)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def test_breaking_contract_change_without_major_bump_fails_at_its_line(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    edit(
        example_repo,
        "contracts/trade.yaml",
        NEW_CURRENCY,
        NEW_CURRENCY + "          - {value: JPY}\n",
    )
    commit_all(example_repo, "allow JPY")
    code, report = audit_json(example_repo, base, "--head", "HEAD", "--no-golden")
    assert code == 1 and report["ok"] is False
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [(f["file"], f["line"], f["code"]) for f in errors] == [
        ("contracts/trade.yaml", 57, "contract.enum-values-added")
    ]
    assert "3.0.0" in errors[0]["hint"]
    (contract,) = report["contracts"]
    assert contract["id"] == "trade" and contract["breaking"] and not contract["version_ok"]
    assert sorted(report["affected"]) == [
        "finance/trades/daily-exposure",
        "finance/trades/validate-trades",
    ]
    text = runi("audit", str(example_repo), "--base", base, "--head", "HEAD", "--no-golden")
    assert text.returncode == 1
    assert "contracts/trade.yaml:57:9" in text.stdout


def test_breaking_change_with_major_bump_passes_and_is_listed(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    edit(
        example_repo,
        "contracts/trade.yaml",
        NEW_CURRENCY,
        NEW_CURRENCY + "          - {value: JPY}\n",
    )
    edit(example_repo, "contracts/trade.yaml", "version: 2.1.0", "version: 3.0.0")
    commit_all(example_repo, "allow JPY, v3")
    code, report = audit_json(example_repo, base, "--head", "HEAD")
    assert code == 0 and report["ok"] is True, report["findings"]
    (contract,) = report["contracts"]
    assert contract["breaking"] and contract["version_ok"]
    assert contract["new_version"] == "3.0.0"
    assert [c["rule"] for c in contract["changes"]] == ["enum-values-added"]
    # only the affected scenario with a golden set was tested, not orders
    assert [(g["pipeline"], g["passed"]) for g in report["golden"]] == [
        ("finance/trades/validate-trades", True)
    ]
    changed = {c["pipeline"]: c["changes"] for c in report["desired"]["changed"]}
    assert "finance/trades/validate-trades" in changed
    assert any(
        "trade@2.1.0 -> trade@3.0.0" in line for line in changed["finance/trades/validate-trades"]
    )


def test_producer_perspective_from_runink_yaml_decides_the_version_rule(example_repo: Path) -> None:
    edit(
        example_repo,
        "runink.yaml",
        "  defaultHerd: finance\n",
        "  defaultHerd: finance\n  contracts: {perspective: producer}\n",
    )
    base = commit_all(example_repo, "base")
    # a new allowed value breaks readers, not writers
    edit(
        example_repo,
        "contracts/trade.yaml",
        NEW_CURRENCY,
        NEW_CURRENCY + "          - {value: JPY}\n",
    )
    edit(example_repo, "contracts/trade.yaml", "version: 2.1.0", "version: 2.2.0")
    commit_all(example_repo, "allow JPY")
    code, report = audit_json(example_repo, base, "--head", "HEAD", "--no-golden")
    assert code == 0, report["findings"]
    assert report["perspective"] == "producer"
    assert report["contracts"][0]["breaking"] is False


def test_readme_only_change_affects_nothing_and_runs_no_golden_test(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    (example_repo / "README.md").write_text("# trading pipelines\n")
    commit_all(example_repo, "docs")
    code, report = audit_json(example_repo, base, "--head", "HEAD")
    assert code == 0
    assert report["affected"] == []
    assert report["golden"] == []
    assert report["desired"] == {"added": [], "removed": [], "changed": [], "herds": []}


def test_comment_only_feature_change_in_the_work_tree_affects_nothing(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    edit(
        example_repo,
        "features/orders.dsl",
        '@herd("ecommerce")\n',
        '# owned by the shop team\n\n@herd("ecommerce")\n',
    )
    code, report = audit_json(example_repo, base)  # head: the uncommitted work tree
    assert code == 0
    assert report["head"] is None
    assert report["affected"] == [] and report["golden"] == []
    assert report["desired"]["changed"] == []


def test_feature_change_that_breaks_its_golden_output_fails_with_the_diff(
    example_repo: Path,
) -> None:
    base = commit_all(example_repo, "base")
    edit(
        example_repo,
        "features/orders.dsl",
        '@step("Normalize", fields=["currency"], ops=["upper"])',
        '@step("Normalize", fields=["currency"], ops=["lower"])',
    )
    commit_all(example_repo, "lower-case currencies")
    result = runi("audit", str(example_repo), "--base", base, "--head", "HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL ecommerce/orders/clean-orders" in result.stdout
    assert "currency" in result.stdout
    assert "golden.failed" in result.stdout
    assert "features/orders.dsl:" in result.stdout


def test_removed_feature_is_listed_as_pruned(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    (example_repo / "features/customers.dsl").unlink()
    commit_all(example_repo, "retire customers")
    _, report = audit_json(example_repo, base, "--head", "HEAD", "--no-golden")
    assert report["desired"]["removed"] and all(
        "customers" in p for p in report["desired"]["removed"]
    )
    assert report["affected"] == []


def test_herd_quota_change_is_listed_with_the_pipelines_it_affects(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    edit(example_repo, "herds/ecommerce.yaml", "slices: ", "slices: 1")
    commit_all(example_repo, "more slices")
    code, report = audit_json(example_repo, base, "--head", "HEAD", "--no-golden")
    assert code == 0, report["findings"]
    (herd,) = report["desired"]["herds"]
    assert herd["herd"] == "ecommerce" and herd["action"] == "changed"
    assert any(line.startswith("quota.slices:") for line in herd["changes"])
    assert report["affected"] and all(p.startswith("ecommerce/") for p in report["affected"])
    assert set(report["reasons"].values()) == {"herd ecommerce changed"}


def test_step_module_change_affects_only_scenarios_using_its_steps(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    edit(example_repo, "steps/trades.py", '"GB": "emea"', '"GB": "europe"')
    commit_all(example_repo, "regions")
    _, report = audit_json(example_repo, base, "--head", "HEAD", "--no-golden")
    assert report["affected"]
    assert not any(p.startswith("ecommerce/orders") for p in report["affected"])
    assert "finance/trades/validate-trades" in report["affected"]


def test_changed_golden_file_affects_its_pipeline(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    edit(example_repo, "golden/orders/clean/expected.jsonl", '"amount": 42.5', '"amount": 43.5')
    commit_all(example_repo, "wrong expectation")
    code, report = audit_json(example_repo, base, "--head", "HEAD")
    assert code == 1
    assert report["affected"] == ["ecommerce/orders/clean-orders"]
    assert report["reasons"]["ecommerce/orders/clean-orders"] == "golden set changed"
    (golden,) = report["golden"]
    assert golden["passed"] is False
    assert golden["output"]["changed"][0]["field"] == "amount"


def test_markdown_junit_and_github_annotations_are_machine_readable(
    example_repo: Path, tmp_path: Path
) -> None:
    base = commit_all(example_repo, "base")
    edit(
        example_repo,
        "contracts/trade.yaml",
        NEW_CURRENCY,
        NEW_CURRENCY + "          - {value: JPY}\n",
    )
    edit(
        example_repo,
        "contracts/trade.yaml",
        "  - name: trades\n",
        "  - name: trades\n    description: all trades\n",
    )
    commit_all(example_repo, "allow JPY")
    junit_file = tmp_path / "out" / "audit.xml"
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "runink.cli.main",
            "audit",
            str(example_repo),
            "--base",
            base,
            "--head",
            "HEAD",
            "--no-golden",
            "-o",
            "markdown",
            "--junit",
            str(junit_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("## ❌ Runink audit")
    assert "### Contracts (consumer perspective)" in result.stdout
    assert "| error | `contracts/trade.yaml:58:9` | `contract.enum-values-added` |" in result.stdout
    assert summary.read_text().startswith("## ❌ Runink audit")
    commands = [line for line in result.stderr.splitlines() if line.startswith("::")]
    assert commands[0].startswith("::error file=contracts/trade.yaml,line=58,col=9,")
    kinds = [c.split(" ", 1)[0] for c in commands]
    assert kinds == sorted(kinds, key=lambda k: k != "::error")  # errors first
    assert len(commands) <= 10
    suites = ET.parse(junit_file).getroot()
    checks = suites.find("testsuite[@name='runink audit checks']")
    assert checks is not None and checks.get("failures") == "1"
    failed = [c.get("name") for c in checks.iter("testcase") if c.find("failure") is not None]
    assert failed == ["contracts/trade.yaml"]


def test_unknown_base_is_a_usage_error_without_traceback(example_repo: Path) -> None:
    commit_all(example_repo, "base")
    result = runi("audit", str(example_repo), "--base", "no-such-branch")
    assert result.returncode == 2
    assert "unknown revision 'no-such-branch'" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_contract_diff_reads_revisions_and_exits_by_perspective(example_repo: Path) -> None:
    commit_all(example_repo, "base")
    edit(example_repo, "contracts/trade.yaml", NEW_CURRENCY, "")
    consumer = runi(
        "contract", "diff", "HEAD:contracts/trade.yaml", "contracts/trade.yaml", cwd=example_repo
    )
    assert consumer.returncode == 0, consumer.stdout + consumer.stderr
    assert "contracts/trade.yaml:57:9: info [enum-values-removed]" in consumer.stdout
    producer = runi(
        "contract",
        "diff",
        "HEAD:contracts/trade.yaml",
        "contracts/trade.yaml",
        "--perspective",
        "producer",
        "-o",
        "json",
        cwd=example_repo,
    )
    assert producer.returncode == 1
    data = json.loads(producer.stdout)
    assert data["breaking"] is True and data["changes"][0]["rule"] == "enum-values-removed"
    assert data["version"]["rule"] == "version-major-not-bumped"
    missing = runi(
        "contract", "diff", "HEAD:contracts/nope.yaml", "contracts/trade.yaml", cwd=example_repo
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_init_writes_a_repository_whose_audit_workflow_runs_runi_audit(tmp_path: Path) -> None:
    import yaml

    target = tmp_path / "pipes"
    result = runi("init", str(target))
    assert result.returncode == 0, result.stderr
    workflow = yaml.safe_load((target / ".github/workflows/runink-audit.yml").read_text())
    steps = workflow["jobs"]["audit"]["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    assert any("runi audit" in str(s.get("run", "")) for s in steps)
    assert runi("lint", str(target)).returncode == 0
    base = commit_all(target, "init")
    git(target, "checkout", "-q", "-b", "feature")
    edit(target, "contracts/event.yaml", "version: 1.0.0", "version: 1.0.1")
    edit(target, "contracts/event.yaml", "          - {value: view}\n", "")
    commit_all(target, "no more views")
    code, report = audit_json(target, base, "--head", "HEAD")
    assert code == 0 and [g["passed"] for g in report["golden"]] == [True]
    # a second init on an existing repository only adds what is missing
    again = runi("init", str(target))
    assert again.returncode == 0 and "exists   runink.yaml" not in again.stdout
