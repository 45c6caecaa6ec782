"""The shipped alert rules, their promtool tests, runbooks and the Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from runink.observability import metrics
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)

PROMETHEUS = ROOT / "deploy" / "prometheus"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
DASHBOARD = ROOT / "deploy" / "grafana" / "runink.json"
RUNBOOK_BASE = "https://github.com/runink/runink/blob/main/docs/runbooks.md#"

# The table of issue #12: alert -> (for, severity, labels besides alertname and severity).
EXPECTED = {
    "RuninkPipelineOutOfSync": ("15m", "warning", {"herd", "pipeline"}),
    "RuninkPipelineDegraded": ("5m", "critical", {"herd", "pipeline"}),
    "RuninkSourceNotReady": ("5m", "warning", {"repo"}),
    "RuninkReconcileErrors": ("15m", "warning", {"controller"}),
    "RuninkDLQRatioHigh": ("10m", "warning", {"herd", "pipeline"}),
    "RuninkPipelineStale": (None, "warning", {"herd", "pipeline"}),
    "RuninkSliceOOMKilled": (None, "warning", {"herd", "pipeline", "step"}),
    "RuninkSliceCrashLooping": (None, "warning", {"herd", "pipeline", "step"}),
    "RuninkNodeDown": ("2m", "critical", {"node"}),
    "RuninkBarnNoLeader": ("1m", "critical", {"job", "instance"}),
    "RuninkBarnLeaderFlapping": (None, "warning", {"job", "instance"}),
    "RuninkLineageBacklog": ("5m", "warning", {"job", "instance"}),
    "RuninkComponentDown": ("5m", "critical", {"job", "instance"}),
}


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: `make system-deps` installs Debian's prometheus"
    return subprocess.run(
        [binary, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )


def known_metrics() -> set[str]:
    """Every metric name Runink exports (metrics.py), with the series of its histograms."""
    names = {"up"}
    for item in vars(metrics).values():
        name = getattr(item, "name", None) or getattr(item, "_name", None)
        if isinstance(name, str) and name.startswith("runink_"):
            kind = getattr(item, "_type", "")
            names.add(name + "_total" if kind == "counter" else name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def metric_names(expr: str) -> set[str]:
    return {n for n in re.findall(r"\b(runink_[a-z_]+|up)\b", expr)}


def anchors() -> set[str]:
    """GitHub's anchors of the runbook headings."""
    headings = re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_the_rules_are_valid_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", "alerts.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts_test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_of_the_table_ships_with_its_for_severity_and_labels() -> None:
    shipped = {rule["alert"]: rule for rule in rules()}
    assert set(shipped) == set(EXPECTED)
    for name, (for_, severity, _) in EXPECTED.items():
        rule = shipped[name]
        assert rule.get("for") == for_, name
        assert rule["labels"] == {"severity": severity}, name


def test_every_alert_links_its_runbook_and_names_its_subject_and_value() -> None:
    sections = anchors()
    for rule in rules():
        name = rule["alert"]
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, name
        assert notes["runbook_url"] == RUNBOOK_BASE + name.lower(), name
        assert name.lower() in sections, f"docs/runbooks.md has no section {name}"
        _, _, labels = EXPECTED[name]
        for label in labels - {"job"}:
            assert f"$labels.{label}" in notes["summary"] + notes["description"], (name, label)
        assert "$value" in notes["description"], name


def test_no_alert_compares_a_counter_directly() -> None:
    for rule in rules():
        for name in metric_names(rule["expr"]):
            if name.endswith("_total"):
                assert re.search(rf"(increase|rate)\({name}\b", rule["expr"]), rule["alert"]


def test_every_alert_has_tests_that_fire_and_tests_that_stay_silent() -> None:
    data = yaml.safe_load((PROMETHEUS / "alerts_test.yaml").read_text())
    fired: set[str] = set()
    silent: set[str] = set()
    for test in data["tests"]:
        for case in test["alert_rule_test"]:
            (fired if case["exp_alerts"] else silent).add(case["alertname"])
    assert fired == set(EXPECTED) and silent == set(EXPECTED)


def test_rules_and_dashboard_read_only_metrics_runink_exports() -> None:
    known = known_metrics()
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [rule["expr"] for rule in rules()]
    exprs += [t["expr"] for p in dashboard["panels"] for t in p.get("targets") or ()]
    for expr in exprs:
        assert metric_names(expr) <= known, (expr, metric_names(expr) - known)


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "runink-overview"
    text = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets") or ())
    for metric in (
        "runink_pipeline_info",
        "runink_pipeline_records_total",
        "runink_slices",
        "runink_reconcile_duration_seconds_bucket",
        "runink_barn_is_leader",
        "runink_barn_commit_index",
        "runink_lineage_oldest_pending_age_seconds",
    ):
        assert metric in text, metric
