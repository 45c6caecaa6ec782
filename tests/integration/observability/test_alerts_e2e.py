"""The shipped alert rules against a real Prometheus scraping a real control plane.

Prometheus (Debian's package) runs on loopback with a temporary config and storage,
scraping the server's /metrics with its bearer token every second, with the rules of
deploy/prometheus/alerts.yaml whose ``for:`` are shortened to one second.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.server import ControlPlane
from runink.api.keys import pipeline_id, run_key
from runink.api.records import RunRecord
from tests.conftest import ROOT, commit_all, eventually

pytestmark = pytest.mark.timeout(180)

TRADES = "finance/trades/validate-trades"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "runink.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """A Prometheus process on loopback; ``api(path, **params)`` returns its JSON data."""

    def __init__(self, base: str) -> None:
        self.base = base

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self, name: str, state: str = "firing") -> list[dict[str, str]]:
        return [
            a["labels"]
            for a in self.api("alerts")["alerts"]
            if a["labels"]["alertname"] == name and a["state"] == state
        ]

    def value(self, query: str) -> float | None:
        result = self.api("query", query=query)["result"]
        return float(result[0]["value"][1]) if result else None


def shortened_rules(target: Path) -> None:
    """alerts.yaml with every ``for:`` cut to one second (same expressions)."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    target.write_text(yaml.safe_dump(rules, sort_keys=False))


@contextlib.contextmanager
def running_prometheus(target_port: int, token_text: str, home: Path) -> Iterator[Prometheus]:
    """A Prometheus on loopback scraping ``127.0.0.1:target_port`` every second with the
    bearer token, evaluating the shipped rules with ``for:`` cut to 1 s; killed after."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make system-deps` installs Debian's prometheus"
    (home / "data").mkdir(parents=True)
    shortened_rules(home / "alerts.yaml")
    token = home / "metrics.token"
    token.write_text(token_text)
    token.chmod(0o600)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(home / "alerts.yaml")],
        "scrape_configs": [
            {
                "job_name": "runink-server",
                "authorization": {"type": "Bearer", "credentials_file": str(token)},
                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
            }
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (home / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        server = Prometheus(f"http://127.0.0.1:{port}")

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{server.base}/-/ready", timeout=2) as reply:
                    return reply.status == 200
            except OSError:
                assert process.poll() is None, (home / "prometheus.log").read_text()
                return False

        eventually(ready, 60, "prometheus ready")
        eventually(lambda: server.value('up{job="runink-server"}') == 1.0, 60, "scraped")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)
        log.close()


@pytest.fixture
def prometheus(plane: ControlPlane, tmp_path: Path) -> Iterator[Prometheus]:
    with running_prometheus(
        plane.http_port, plane.config.metrics_token, tmp_path / "prometheus"
    ) as server:
        yield server


def put_run(plane: ControlPlane, run_id: str, **totals: int) -> None:
    """A finished run of the trades pipeline, written as the API's ReportRun writes it."""
    assert plane.barn is not None
    herd = "finance"
    now = datetime.now(UTC)
    record = RunRecord(
        run_id=run_id,
        herd=herd,
        pipeline=pipeline_id(herd, TRADES),
        outcome="succeeded",
        started_at=(now - timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
        ended_at=now.isoformat().replace("+00:00", "Z"),
        node="n1",
        totals=totals,
    )
    plane.barn.put(run_key(herd, TRADES, run_id), record.to_dict())


def test_an_invalid_commit_fires_source_not_ready_until_a_fixing_commit(
    plane: ControlPlane, prometheus: Prometheus, example_repo: Path
) -> None:
    eventually(lambda: prometheus.value('runink_source_ready{repo="local"}') == 1.0, 60, "ready")
    feature = example_repo / "features" / "trades.dsl"
    good = feature.read_text()
    feature.write_text(good.replace("@slo(dlq_ratio=0.01", '@slo(dlq_ratio="1%"', 1))
    commit_all(example_repo, "a typo in the objective")
    firing = eventually(lambda: prometheus.alerts("RuninkSourceNotReady"), 60, "alert fires")
    assert firing == [{"alertname": "RuninkSourceNotReady", "repo": "local", "severity": "warning"}]
    assert not prometheus.alerts("RuninkComponentDown", "pending")
    feature.write_text(good)
    commit_all(example_repo, "fix the objective")
    eventually(
        lambda: (
            not prometheus.alerts("RuninkSourceNotReady")
            and not prometheus.alerts("RuninkSourceNotReady", "pending")
        ),
        60,
        "alert resolves",
    )


def test_twenty_percent_bad_records_fire_dlq_ratio_high_until_clean_data(
    plane: ControlPlane, prometheus: Prometheus
) -> None:
    query = (
        'runink_pipeline_records_total{outcome="read",pipeline="finance/trades/validate-trades"}'
    )
    # the counter exists at 0 before any run, so the first run's records are an increase
    eventually(lambda: prometheus.value(query) == 0.0, 60, "counter at 0")
    time.sleep(2)  # a few more scrapes of the zero
    put_run(plane, "run-bad", read=1000, written=800, dlq=200)
    firing = eventually(lambda: prometheus.alerts("RuninkDLQRatioHigh"), 60, "alert fires")
    assert firing == [
        {
            "alertname": "RuninkDLQRatioHigh",
            "herd": "finance",
            "pipeline": TRADES,
            "severity": "warning",
        }
    ]
    alert = next(
        a
        for a in prometheus.api("alerts")["alerts"]
        if a["labels"]["alertname"] == "RuninkDLQRatioHigh"
    )
    assert "20%" in alert["annotations"]["description"]
    put_run(plane, "run-clean", read=1_000_000, written=1_000_000, dlq=0)
    eventually(
        lambda: (
            not prometheus.alerts("RuninkDLQRatioHigh")
            and not prometheus.alerts("RuninkDLQRatioHigh", "pending")
        ),
        60,
        "alert resolves",
    )


def test_every_dashboard_query_runs(plane: ControlPlane, prometheus: Prometheus) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets") or ()]
    assert len(queries) > 15
    eventually(lambda: prometheus.value("max(runink_pipeline_info)") == 1.0, 60, "pipelines")
    for query in queries:
        prometheus.api("query", query=query.replace("$herd", ".*"))  # raises on an error
