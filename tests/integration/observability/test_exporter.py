"""The server's Barn-derived metrics, read from a real /metrics scrape."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.server import ControlPlane
from runink.api.keys import pipeline_id, run_key
from runink.api.records import NodeRecord, RunRecord
from tests.conftest import eventually
from tests.integration.observability.conftest import scrape

pytestmark = pytest.mark.timeout(120)

TRADES = "finance/trades/validate-trades"
EXPOSURE = "finance/trades/daily-exposure"
ORDERS = "ecommerce/orders/clean-orders"


def samples(plane: ControlPlane) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of one scrape, keyed by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(scrape(plane))
        for s in family.samples
    }


def value(plane: ControlPlane, name: str, **labels: str) -> float | None:
    return samples(plane).get((name, frozenset(labels.items())))


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def put_run(plane: ControlPlane, run_id: str, outcome: str, ended: datetime, **totals: int) -> None:
    assert plane.barn is not None
    herd = TRADES.split("/")[0]
    record = RunRecord(
        run_id=run_id,
        herd=herd,
        pipeline=pipeline_id(herd, TRADES),
        outcome=outcome,
        started_at=iso(ended - timedelta(seconds=5)),
        ended_at=iso(ended),
        node="n1",
        totals=totals,
    )
    plane.barn.put(run_key(herd, TRADES, run_id), record.to_dict())


def test_objectives_declared_in_features_are_exported_with_the_schedule_default(
    plane: ControlPlane,
) -> None:
    eventually(lambda: value(plane, "runink_source_ready", repo="local") == 1.0, what="ready")
    assert value(plane, "runink_pipeline_slo_dlq_ratio", herd="finance", pipeline=TRADES) == 0.01
    assert (
        value(plane, "runink_pipeline_slo_freshness_seconds", herd="finance", pipeline=TRADES)
        == 7200
    )
    # no @slo, @schedule daily on weekdays: twice the interval
    assert (
        value(plane, "runink_pipeline_slo_freshness_seconds", herd="finance", pipeline=EXPOSURE)
        == 2 * 86400
    )
    assert value(plane, "runink_pipeline_slo_dlq_ratio", herd="finance", pipeline=EXPOSURE) is None
    # declared freshness, no schedule
    assert (
        value(plane, "runink_pipeline_slo_freshness_seconds", herd="ecommerce", pipeline=ORDERS)
        == 1800
    )
    # a stream with no @slo: no objective at all
    customers = "ecommerce/customers/maintain-customers"
    assert eventually(
        lambda: (
            value(
                plane,
                "runink_pipeline_records_total",
                herd="ecommerce",
                pipeline=customers,
                outcome="read",
            )
            == 0
        )
    )
    assert (
        value(plane, "runink_pipeline_slo_freshness_seconds", herd="ecommerce", pipeline=customers)
        is None
    )


def test_run_records_count_up_and_a_pruned_run_keeps_its_share(plane: ControlPlane) -> None:
    assert plane.barn is not None
    eventually(lambda: plane.barn and plane.barn.get(f"/pipelines/{TRADES}"), what="applied")
    assert (
        value(
            plane, "runink_pipeline_records_total", herd="finance", pipeline=TRADES, outcome="read"
        )
        == 0
    )
    ended = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    put_run(plane, "r1", "succeeded", ended, read=100, written=80, dlq=20)
    put_run(plane, "r2", "failed", ended + timedelta(minutes=5), read=50, dlq=50)

    def read(outcome: str) -> float | None:
        return value(
            plane, "runink_pipeline_records_total", herd="finance", pipeline=TRADES, outcome=outcome
        )

    assert (read("read"), read("written"), read("dlq"), read("filtered")) == (150, 80, 70, 0)
    last = value(
        plane, "runink_pipeline_last_success_timestamp_seconds", herd="finance", pipeline=TRADES
    )
    assert last == ended.timestamp()  # the failed run later on is no success
    plane.barn.delete(run_key("finance", TRADES, "r1"))  # runs are pruned: counters stay
    put_run(plane, "r3", "succeeded", ended + timedelta(minutes=10), read=10, written=10)
    assert (read("read"), read("dlq")) == (160, 70)
    assert (
        value(
            plane, "runink_pipeline_last_success_timestamp_seconds", herd="finance", pipeline=TRADES
        )
        == (ended + timedelta(minutes=10)).timestamp()
    )


def test_a_node_whose_lease_expired_reads_zero(plane: ControlPlane) -> None:
    assert plane.barn is not None
    lease = plane.barn.lease_grant(60)
    plane.barn.put("/nodes/n7", NodeRecord("n7").to_dict(), lease=lease.id)
    assert value(plane, "runink_node_ready", node="n7") == 1.0
    plane.barn.lease_revoke(lease.id)  # what expiry does: the key goes with the lease
    eventually(lambda: value(plane, "runink_node_ready", node="n7") == 0.0, what="node down")


def test_lineage_backlog_reports_the_oldest_pending_run(plane: ControlPlane) -> None:
    assert plane.barn is not None
    assert value(plane, "runink_lineage_oldest_pending_age_seconds") == 0.0
    old = datetime.now(UTC) - timedelta(minutes=20)
    plane.barn.put("/lineage/pending/r-old", {"run_id": "r-old", "ended_at": iso(old)})
    plane.barn.put(
        "/lineage/pending/r-new", {"run_id": "r-new", "ended_at": iso(datetime.now(UTC))}
    )
    age = value(plane, "runink_lineage_oldest_pending_age_seconds")
    assert age is not None and 1200 <= age < 1300
    assert value(plane, "runink_lineage_pending") == 2.0


def test_a_real_scrape_passes_promtool_check_metrics(plane: ControlPlane) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make system-deps` installs Debian's prometheus"
    eventually(lambda: value(plane, "runink_source_ready", repo="local") == 1.0, what="ready")
    put_run(plane, "r1", "succeeded", datetime.now(UTC), read=10, written=10)
    text = scrape(plane)
    assert "runink_pipeline_records_total" in text and "runink_pipeline_info" in text
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
