"""Alerts from real runs: `runi up` runs a pipeline on data with 20% bad records, a real
Prometheus scrapes it, RuninkDLQRatioHigh fires; a fixing push with clean data resolves it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.e2e.conftest import Up, push
from tests.integration.observability.test_alerts_e2e import running_prometheus

pytestmark = pytest.mark.timeout(300)

FEATURE = """@herd("finance")
Feature: Quality
  Scenario: Check readings
    @source("jsonl://data/readings.jsonl")
    @step("Filter", when="record.n >= {floor}")
    @sink("jsonl://out/readings.jsonl")
"""
PIPELINE = "finance/quality/check-readings"


def readings(path: Path, count: int, bad_every: int = 0) -> None:
    """``count`` records; every ``bad_every``-th has an ``n`` a Filter cannot compare."""
    path.write_text(
        "".join(
            json.dumps({"n": "bad" if bad_every and i % bad_every == 0 else i}) + "\n"
            for i in range(count)
        )
    )


def test_bad_records_fire_dlq_ratio_high_and_a_fixing_push_resolves_it(
    world: tuple[Path, Up], tmp_path: Path
) -> None:
    work, up = world
    data = up.state / "agent" / "finance" / "data" / "readings.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("")  # first revision: nothing read, the counters start at zero
    (work / "features/quality.dsl").write_text(FEATURE.format(floor=0))
    push(work, "a quality check")
    url = next(line.split()[2] for line in up.lines if line.startswith("runi: metrics"))
    port = int(url.split(":")[2].split("/")[0])
    token = (up.state / "metrics.token").read_text().strip()
    with running_prometheus(port, token, tmp_path / "prometheus") as prometheus:
        query = f'runink_pipeline_records_total{{outcome="read",pipeline="{PIPELINE}"}}'
        eventually(lambda: prometheus.value(query) == 0.0, 90, "the pipeline's counter at 0")
        readings(data, 1000, bad_every=5)  # 20% of the records cannot be judged: DLQ
        (work / "features/quality.dsl").write_text(FEATURE.format(floor=-1))
        push(work, "run again on today's readings")
        eventually(lambda: prometheus.alerts("RuninkDLQRatioHigh"), 120, "the alert fires")
        fired = next(
            a for a in prometheus.api("alerts")["alerts"]
            if a["labels"]["alertname"] == "RuninkDLQRatioHigh"
        )  # fmt: skip
        assert (
            fired["labels"]["pipeline"] == PIPELINE and "20%" in fired["annotations"]["description"]
        )
        readings(data, 5000)  # clean data, and a push that runs it
        (work / "features/quality.dsl").write_text(FEATURE.format(floor=-2))
        push(work, "clean readings")
        eventually(
            lambda: (
                not prometheus.alerts("RuninkDLQRatioHigh")
                and not prometheus.alerts("RuninkDLQRatioHigh", "pending")
            ),
            120,
            "the alert resolves",
        )
