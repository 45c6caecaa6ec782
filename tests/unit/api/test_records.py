"""Barn records: the shapes controllers, agents and the API share, read back intact."""

from __future__ import annotations

import pytest

from runink.api import keys
from runink.api.records import (
    AssignmentRecord,
    Condition,
    NodeReport,
    PipelineRecord,
    RecordError,
    RunRecord,
    SliceState,
    StatusRecord,
    herd_from_dict,
    herd_to_dict,
)
from runink.compiler.repo import Compiler
from runink.repo import load_repo
from tests.conftest import EXAMPLE_REPO, ROOT


def test_herds_and_plans_of_the_example_repo_round_trip() -> None:
    snapshot = load_repo(EXAMPLE_REPO, None)
    for herd in snapshot.herds:
        assert herd_from_dict(herd_to_dict(herd)) == herd
    for plan in Compiler().compile(snapshot).plans:
        record = PipelineRecord.from_dict(plan.to_dict())
        assert (record.herd, record.pipeline, record.hash) == (plan.herd, plan.pipeline, plan.hash)
        assert record.trigger == plan.trigger.kind


def test_status_round_trips_and_counts_ready_slices() -> None:
    status = StatusRecord(
        herd="finance",
        pipeline="finance/trades/validate-trades",
        revision="abc",
        sync="Synced",
        health="Degraded",
        conditions=(Condition("Healthy", "False", "SliceCrashLoop", "restarted", "t", "abc"),),
        nodes={
            "n1": NodeReport(
                "n1", "abc", (SliceState("source", "running", "n1"), SliceState("x", "failed")), "t"
            )
        },
    )
    again = StatusRecord.from_dict(status.to_dict())
    assert again.slices_ready == 1 and len(again.slices) == 2
    assert again.slices[1].node == "n1"  # a report's node fills in its slices
    assert StatusRecord.from_dict(again.to_dict()) == again


def test_a_local_run_result_reads_as_a_run_record() -> None:
    result = {
        "run_id": "0190-1",
        "pipeline": "finance/trades/validate-trades",
        "herd": "finance",
        "revision": None,
        "started_at": "2026-01-01T00:00:00+00:00",
        "ended_at": "2026-01-01T00:00:01+00:00",
        "outcome": "succeeded",
        "slices": [
            {
                "id": "source",
                "kind": "source",
                "name": "file",
                "state": "succeeded",
                "counts": {"in": 3, "out": 3, "dlq": 0},
                "exit_code": 0,
                "error": None,
                "max_rss_kb": 1000,
            }
        ],
        "totals": {"read": 3, "written": 3, "dlq": 0, "filtered": 0},
        "problems": [],
        "run_dir": "/tmp/x",
        "dlq": "/tmp/x/dlq.jsonl",
    }
    run = RunRecord.from_dict(result)
    assert run.steps[0].counts == {"in": 3, "out": 3, "dlq": 0} and run.revision == ""
    assert RunRecord.from_dict(run.to_dict()) == run
    assert "run_dir" not in run.to_dict()


def test_malformed_records_name_the_missing_field() -> None:
    with pytest.raises(RecordError, match="'pipeline'"):
        StatusRecord.from_dict({"herd": "finance"})
    with pytest.raises(RecordError, match="not an object"):
        AssignmentRecord.from_dict("nope")  # type: ignore[arg-type]


def test_keys_follow_the_design_key_space() -> None:
    pid = "finance/trades/validate-trades"
    assert keys.pipeline_key("finance", pid) == "/pipelines/finance/trades/validate-trades"
    assert keys.pipeline_key("finance", "trades/validate-trades") == keys.pipeline_key(
        "finance", pid
    )
    assert keys.status_key("finance", pid) == "/status/finance/trades/validate-trades"
    assert keys.run_key("finance", pid, "r1") == "/runs/finance/trades/validate-trades/r1"
    assert keys.assignment_key("n1", "finance", pid) == (
        "/assignments/n1/finance/trades/validate-trades"
    )
    assert keys.secret_key("finance", "warehouse_password") == "/secrets/finance/warehouse_password"
    for bad in ("../x", "a/b", "", "x" * 300):
        with pytest.raises(keys.KeyNameError):
            keys.herd_key(bad)
    with pytest.raises(keys.KeyNameError, match="<herd>/<feature>/<scenario>"):
        keys.pipeline_key("finance", "ecommerce/orders/clean-orders/x")


def test_records_module_is_documented() -> None:
    doc = (ROOT / "docs" / "api.md").read_text()
    for name in (
        "HerdRecord",
        "PipelineRecord",
        "StatusRecord",
        "RunRecord",
        "NodeRecord",
        "AssignmentRecord",
        "SecretRecord",
        "SourceRecord",
    ):
        assert name in doc, name
