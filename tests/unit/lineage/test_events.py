"""OpenLineage events of a run, checked against the official OpenLineage schemas."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openlineage.client.event_v2 import RunEvent
from referencing import Registry, Resource

from runink.compiler import Compiler, Plan
from runink.contracts import Contract
from runink.lineage import (
    PRODUCER,
    dataset_name,
    end_event,
    events,
    job_namespace,
    run_events,
    start_event,
    to_dict,
    to_json,
    write_events,
)
from runink.lineage.events import ASSERTIONS_SLICE
from runink.repo import load_repo
from runink.runtime import executor
from runink.runtime.executor import ASSERT_NODE, RunResult, SliceStatus

PROJECT = Path(__file__).resolve().parents[3]
SPECS = PROJECT.parent / "shared" / "specs" / "openlineage"
RUN_ID = "01932f6e-8f5a-7c3e-9d2b-3f4a5b6c7d8e"
STARTED = "2026-11-23T20:43:32.123456+00:00"
ENDED = "2026-11-23T20:44:01.5+00:00"
SECRET_EMAIL = "jane.doe.4711@example.com"
VALIDATE = "finance/trades/validate-trades"
EXPOSURE = "finance/trades/daily-exposure"
ORDERS = "ecommerce/orders/clean-orders"
CUSTOMERS = "ecommerce/customers/maintain-customers"


# -- the official schemas ----------------------------------------------------------


@cache
def _schemas() -> tuple[dict[str, Any], dict[str, dict[str, Any]], Registry[Any]]:
    """OpenLineage.json, the facet schemas by facet key, and a registry of all by $id."""
    core = json.loads((SPECS / "OpenLineage.json").read_text())
    facets: dict[str, dict[str, Any]] = {}
    for path in sorted((SPECS / "facets").glob("*.json")):
        schema = json.loads(path.read_text())
        for key in schema["properties"]:
            facets[key] = schema
    registry: Registry[Any] = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in (core, *facets.values())
    )
    return core, facets, registry


def _format_checker() -> FormatChecker:
    # jsonschema checks "date-time" and "uri" only with optional packages: check here.
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(
            re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+", value)
        )

    return checker


# Where the spec lets each kind of facet stand in an event.
_PLACES = {
    "RunFacet": "run",
    "JobFacet": "job",
    "DatasetFacet": "facets",
    "InputDatasetFacet": "inputFacets",
    "OutputDatasetFacet": "outputFacets",
}


def _facets(event: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(place, key, facet) for every facet anywhere in the event."""
    for place in ("run", "job"):
        for key, facet in event[place].get("facets", {}).items():
            yield place, key, facet
    for dataset in (*event.get("inputs", ()), *event.get("outputs", ())):
        for place in ("facets", "inputFacets", "outputFacets"):
            for key, facet in dataset.get(place, {}).items():
                yield place, key, facet


def assert_valid(event: RunEvent) -> dict[str, Any]:
    """Validate the event, and each facet against its own official schema."""
    return assert_valid_data(orjson.loads(to_json(event)))


def assert_valid_data(data: dict[str, Any]) -> dict[str, Any]:
    """Validate an event as JSON data (e.g. read back from a run's lineage/ files)."""
    core, facets, registry = _schemas()
    Draft202012Validator(core, registry=registry, format_checker=_format_checker()).validate(data)
    for place, key, facet in _facets(data):
        assert key in facets, f"{key} is not a standard facet the specs hold"
        schema = facets[key]
        Draft202012Validator(schema, registry=registry, format_checker=_format_checker()).validate(
            {key: facet}
        )
        assert facet["_schemaURL"].startswith(schema["$id"] + "#/$defs/"), key
        assert facet["_producer"] == PRODUCER
        main = schema["properties"][key]["$ref"].rsplit("/", 1)[-1]
        base = schema["$defs"][main]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
        assert _PLACES[base] == place, f"{key} is a {base}, found in {place}"
    return data


# -- plans and results -------------------------------------------------------------


@cache
def _compiled() -> tuple[dict[str, Plan], dict[str, Contract], str | None]:
    snapshot = load_repo(PROJECT / "example-repo")
    result = Compiler().compile(snapshot)
    assert result.ok, result.findings
    name = snapshot.settings.name if snapshot.settings else None
    return {p.pipeline: p for p in result.plans}, {c.id: c for c in snapshot.contracts}, name


def plan(pipeline: str) -> Plan:
    return _compiled()[0][pipeline]


def contracts() -> dict[str, Contract]:
    return _compiled()[1]


def repository() -> str | None:
    return _compiled()[2]


def status(
    plan_: Plan,
    node_id: str,
    counts: Mapping[str, int] | None = None,
    state: str = "succeeded",
) -> SliceStatus:
    kind, name = (
        ("step", "Assert")
        if node_id == ASSERT_NODE
        else (plan_.node(node_id).kind, plan_.node(node_id).name)
    )
    full = {"in": 0, "out": 0, "dlq": 0, "filtered": 0, "consumed": 0, "routed_dlq": 0}
    return SliceStatus(node_id, kind, name, state=state, counts={**full, **(counts or {})})


def result(plan_: Plan, slices: list[SliceStatus], outcome: str) -> RunResult:
    written = sum(s.counts["out"] for s in slices if s.kind == "sink")
    return RunResult(
        run_id=RUN_ID,
        pipeline=plan_.pipeline,
        herd=plan_.herd,
        revision=plan_.revision,
        started_at=STARTED,
        ended_at=ENDED,
        outcome=outcome,
        slices=tuple(slices),
        totals={"read": 10, "written": written, "dlq": 2, "filtered": 0},
        problems=(),
        run_dir="/tmp/run",
        dlq="/tmp/run/dlq/trades.jsonl",
    )


def succeeded_validate_run(rejected: int = 2, asserted_out: int = 0) -> RunResult:
    p = plan(VALIDATE)
    valid = 10 - rejected
    return result(
        p,
        [
            status(p, "source", {"in": 10, "out": 10}),
            status(p, "decode-trade", {"in": 10, "consumed": 10, "out": 10}),
            status(p, "validate-contract", {"in": 10, "consumed": valid, "dlq": rejected}),
            status(p, "mask-pii", {"in": valid, "consumed": valid, "out": valid}),
            status(p, ASSERT_NODE, {"in": valid, "consumed": valid, "dlq": asserted_out}),
            status(p, "sink-warehouse-duckdb-silver-trades", {"in": valid, "out": valid}),
            status(p, "sink-out-large-trades-jsonl", {"in": 3, "out": 3}),
        ],
        "succeeded",
    )


def failed_validate_run() -> RunResult:
    """DecodeTrade raised on a record; the supervisor cancelled the rest."""
    p = plan(VALIDATE)
    decode = status(p, "decode-trade", {"in": 4, "consumed": 3, "out": 3}, "failed")
    decode.error = f"ValueError: cannot decode trade for {SECRET_EMAIL}"
    decode.traceback = (
        "Traceback (most recent call last):\n"
        '  File "steps/trades.py", line 12, in decode_trade\n'
        f"    raise ValueError(f'cannot decode trade for {{email}}')  # {SECRET_EMAIL}\n"
        f"ValueError: cannot decode trade for {SECRET_EMAIL}\n"
    )
    return result(
        p,
        [
            status(p, "source", {"in": 4, "out": 4}, "cancelled"),
            decode,
            status(p, "validate-contract", {"in": 3, "consumed": 2, "dlq": 1}, "cancelled"),
            status(p, "mask-pii", {"in": 2, "consumed": 2, "out": 2}, "cancelled"),
            status(p, ASSERT_NODE, {"in": 2, "consumed": 2}, "cancelled"),
            status(p, "sink-warehouse-duckdb-silver-trades", {"in": 2}, "cancelled"),
            status(p, "sink-out-large-trades-jsonl", state="cancelled"),
        ],
        "failed",
    )


def events_of(run: RunResult, pipeline: str = VALIDATE, **options: Any) -> tuple[RunEvent, ...]:
    return run_events(
        plan(pipeline), run, contracts=contracts(), repository=repository(), **options
    )


def output(event: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return next(o for o in event["outputs"] if o["name"] == name)


def assertions_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    facet = event["inputs"][0]["inputFacets"].get("dataQualityAssertions")
    return list(facet["assertions"]) if facet else []


# -- tests -------------------------------------------------------------------------


def test_every_event_of_a_succeeded_run_is_valid_openlineage() -> None:
    start, end = events_of(succeeded_validate_run())
    start_data, end_data = assert_valid(start), assert_valid(end)
    assert (start_data["eventType"], end_data["eventType"]) == ("START", "COMPLETE")
    assert start_data["run"]["runId"] == end_data["run"]["runId"] == RUN_ID
    assert start_data["eventTime"] == "2026-11-23T20:43:32.123456Z"
    assert end_data["eventTime"] == "2026-11-23T20:44:01.500000Z"
    assert end_data["schemaURL"] == (
        "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    )


def test_every_event_of_a_failed_run_is_valid_openlineage() -> None:
    start, end = events_of(failed_validate_run())
    assert_valid(start)
    assert assert_valid(end)["eventType"] == "FAIL"


@pytest.mark.parametrize("pipeline", [VALIDATE, EXPOSURE, ORDERS, CUSTOMERS])
def test_start_events_of_every_example_pipeline_are_valid(pipeline: str) -> None:
    event = start_event(
        plan(pipeline),
        run_id=RUN_ID,
        started_at=STARTED,
        contracts=contracts(),
        repository=repository(),
    )
    assert assert_valid(event)["job"]["name"] == pipeline


def test_the_job_is_the_pipeline_in_its_herds_namespace() -> None:
    data = to_dict(events_of(succeeded_validate_run())[1])
    assert data["job"]["namespace"] == "runink://trading/finance"
    assert data["job"]["name"] == VALIDATE
    assert job_namespace(None, "finance") == "runink://local/finance"


def test_the_source_is_the_input_and_each_sink_an_output() -> None:
    data = to_dict(events_of(succeeded_validate_run())[1])
    assert [(d["namespace"], d["name"]) for d in data["inputs"]] == [
        ("file://trading/finance", "data/trades.jsonl")
    ]
    assert [(d["namespace"], d["name"]) for d in data["outputs"]] == [
        ("duckdb://trading/finance/warehouse.duckdb", "silver.trades"),
        ("file://trading/finance", "out/large_trades.jsonl"),
    ]


def test_a_table_one_pipeline_writes_is_the_same_dataset_another_reads() -> None:
    written = to_dict(events_of(succeeded_validate_run())[0])["outputs"][0]
    read = to_dict(
        start_event(plan(EXPOSURE), run_id=RUN_ID, started_at=STARTED, repository="trading")
    )["inputs"][0]
    assert (read["namespace"], read["name"]) == (written["namespace"], written["name"])


def test_dataset_names_follow_the_uri() -> None:
    def named(uri: str) -> tuple[str, str]:
        found = dataset_name(uri, repository=None, herd="finance")
        return found.namespace, found.name

    assert named("duckdb://db/w.duckdb#gold.x") == ("duckdb://local/finance/db/w.duckdb", "gold.x")
    assert named("duckdb://w.duckdb#x") == ("duckdb://local/finance/w.duckdb", "main.x")
    assert named("csv://in/./a.csv") == ("file://local/finance", "in/a.csv")
    assert named("stdout://") == ("stdio://local/finance", "stdout")


def test_a_source_override_names_the_dataset_actually_read() -> None:
    _, end = events_of(succeeded_validate_run(), source="jsonl://replay/trades.jsonl")
    assert to_dict(end)["inputs"][0]["name"] == "replay/trades.jsonl"


def test_datasets_carry_their_contracts_schema_with_types() -> None:
    data = to_dict(events_of(succeeded_validate_run())[1])
    source_fields = data["inputs"][0]["facets"]["schema"]["fields"]
    assert [(f["name"], f["type"]) for f in source_fields] == [
        ("trade_id", "string"),
        ("payload", "string"),
        ("received_at", "timestamp"),
    ]
    # The sinks get the contract the records were validated against upstream.
    sink_fields = output(data, "silver.trades")["facets"]["schema"]["fields"]
    assert {f["name"]: f["type"] for f in sink_fields}["notional"] == "number"
    assert output(data, "silver.trades")["facets"]["dataSource"]["uri"] == (
        "duckdb://trading/finance/warehouse.duckdb"
    )


def test_contract_documents_serve_as_well_as_contract_models() -> None:
    documents = {cid: dict(c.document) for cid, c in contracts().items()}
    as_documents = start_event(
        plan(VALIDATE), run_id=RUN_ID, started_at=STARTED, contracts=documents
    )
    as_models = start_event(
        plan(VALIDATE), run_id=RUN_ID, started_at=STARTED, contracts=contracts()
    )
    assert to_json(as_documents) == to_json(as_models)


def test_a_reshaped_output_lists_its_fields_without_types() -> None:
    data = to_dict(start_event(plan(EXPOSURE), run_id=RUN_ID, started_at=STARTED))
    fields = output(data, "gold.exposure")["facets"]["schema"]["fields"]
    assert sorted(f["name"] for f in fields) == ["currency", "notional", "symbol", "trades"]
    assert all("type" not in f for f in fields)


def test_row_count_of_each_output_is_what_its_sink_wrote() -> None:
    run = succeeded_validate_run(rejected=2)
    data = to_dict(events_of(run)[1])
    written = {s.id: s.counts["out"] for s in run.slices if s.kind == "sink"}
    assert (
        output(data, "silver.trades")["outputFacets"]["outputStatistics"]["rowCount"]
        == (written["sink-warehouse-duckdb-silver-trades"])
    )
    assert (
        output(data, "out/large_trades.jsonl")["outputFacets"]["outputStatistics"]["rowCount"]
        == written["sink-out-large-trades-jsonl"]
        == 3
    )
    assert data["inputs"][0]["inputFacets"]["dataQualityMetrics"]["rowCount"] == 10


def test_a_sink_that_did_not_finish_reports_no_row_count() -> None:
    data = to_dict(events_of(failed_validate_run())[1])
    assert all(o["outputFacets"] == {} for o in data["outputs"])


def test_the_start_event_reports_no_results_yet() -> None:
    data = to_dict(events_of(succeeded_validate_run())[0])
    assert data["inputs"][0]["inputFacets"] == {}
    assert all(o["outputFacets"] == {} for o in data["outputs"])
    assert "errorMessage" not in data["run"]["facets"]


def test_a_contract_check_that_rejected_records_fails() -> None:
    checks = assertions_of(to_dict(events_of(succeeded_validate_run(rejected=2))[1]))
    contract = next(c for c in checks if c["name"] == "validate-contract")
    assert contract["assertion"] == "contract:trade@2.1.0"
    assert contract["success"] is False
    assert contract["actual"] == "2"


def test_a_contract_check_that_rejected_nothing_succeeds() -> None:
    checks = assertions_of(to_dict(events_of(succeeded_validate_run(rejected=0))[1]))
    assert all(c["success"] is True for c in checks)
    assert [c["assertion"] for c in checks] == ["contract:trade@2.1.0", "record.notional > 0"]


def test_an_assertion_names_its_expression_and_column() -> None:
    checks = assertions_of(to_dict(events_of(succeeded_validate_run(asserted_out=1))[1]))
    asserted = next(c for c in checks if c["assertion"] == "record.notional > 0")
    assert asserted["column"] == "notional"
    assert asserted["success"] is False
    assert asserted["name"] == "features/trades.dsl:22:11"


def test_rejections_shared_by_several_assertions_are_not_blamed_on_one() -> None:
    p = plan(ORDERS)
    slices = [status(p, n.id) for n in p.nodes]
    clean = result(p, [*slices, status(p, ASSERT_NODE)], "succeeded")
    dirty = result(p, [*slices, status(p, ASSERT_NODE, {"in": 5, "dlq": 2})], "succeeded")
    passed = assertions_of(assert_valid(events_of(clean, ORDERS)[1]))
    assert {(c["assertion"], c.get("column"), c["success"]) for c in passed} >= {
        ("record.amount >= 0", "amount", True),
        ("record.status in ['placed', 'paid', 'shipped', 'cancelled']", "status", True),
    }
    failed = assertions_of(assert_valid(events_of(dirty, ORDERS)[1]))
    combined = [c for c in failed if c["name"] == ASSERTIONS_SLICE]
    assert len(combined) == 1
    assert combined[0]["success"] is False
    assert "record.amount >= 0" in combined[0]["assertion"]


def test_an_unfinished_check_that_rejected_records_still_fails() -> None:
    checks = assertions_of(to_dict(events_of(failed_validate_run())[1]))
    # ValidateContract had rejected one record when it was cancelled; the assertions
    # slice had rejected none and never finished, so nothing is known of them.
    assert [(c["name"], c["success"]) for c in checks] == [("validate-contract", False)]


def test_the_error_message_names_the_failed_slice() -> None:
    data = to_dict(events_of(failed_validate_run())[1])
    error = data["run"]["facets"]["errorMessage"]
    assert "decode-trade" in error["message"]
    assert "DecodeTrade" in error["message"]
    assert "ValueError" in error["message"]
    assert error["programmingLanguage"] == "python"
    assert "stackTrace" not in error


def test_no_record_value_from_an_error_or_traceback_leaks_into_the_events() -> None:
    for event in events_of(failed_validate_run()):
        assert SECRET_EMAIL.encode() not in to_json(event)


def test_supervisor_errors_are_shown_as_they_are() -> None:
    run = failed_validate_run()
    run.slices[1].error = "killed by SIGKILL"
    message = to_dict(events_of(run)[1])["run"]["facets"]["errorMessage"]["message"]
    assert message == "slice decode-trade (DecodeTrade) failed: killed by SIGKILL"


def test_the_job_is_documented_by_its_scenario() -> None:
    facets = to_dict(events_of(succeeded_validate_run())[0])["job"]["facets"]
    description = facets["documentation"]["description"]
    assert description.splitlines()[:3] == [
        "Feature: Trade lifecycle",
        "Scenario: Validate trades",
        'Given the contract "trade"',
    ]
    assert "Do store valid trades in silver.trades" in description


@pytest.mark.parametrize(
    ("pipeline", "processing"),
    [(VALIDATE, "BATCH"), (ORDERS, "BATCH"), (CUSTOMERS, "STREAMING")],
)
def test_job_type_follows_the_trigger(pipeline: str, processing: str) -> None:
    data = to_dict(start_event(plan(pipeline), run_id=RUN_ID, started_at=STARTED))
    assert data["job"]["facets"]["jobType"] == {
        **data["job"]["facets"]["jobType"],
        "processingType": processing,
        "integration": "RUNINK",
        "jobType": "PIPELINE",
    }


def test_the_engine_is_runink() -> None:
    facets = to_dict(events_of(succeeded_validate_run())[1])["run"]["facets"]
    assert facets["processing_engine"]["name"] == "Runink"
    assert to_dict(events_of(succeeded_validate_run())[1])["producer"] == PRODUCER


def test_a_scheduled_run_carries_its_nominal_time() -> None:
    nominal = "2026-11-23T20:40:00+00:00"
    start, end = events_of(succeeded_validate_run(), nominal_time=nominal)
    for event in (start, end):
        data = assert_valid(event)
        assert data["run"]["facets"]["nominalTime"]["nominalStartTime"] == (
            "2026-11-23T20:40:00.000000Z"
        )
    unscheduled = start_event(plan(ORDERS), run_id=RUN_ID, started_at=STARTED, nominal_time=nominal)
    assert "nominalTime" not in to_dict(unscheduled)["run"]["facets"]


def test_canonical_json_is_byte_stable() -> None:
    first = [to_json(e) for e in events_of(failed_validate_run())]
    second = [to_json(e) for e in events_of(failed_validate_run())]
    assert first == second
    data = orjson.loads(first[1])
    assert first[1] == orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def test_events_are_written_one_file_each_in_order(tmp_path: Path) -> None:
    start, end = events_of(succeeded_validate_run())
    first = write_events(tmp_path, [start])
    second = write_events(tmp_path, [end])
    assert [p.relative_to(tmp_path).as_posix() for p in first + second] == [
        "lineage/1-START.json",
        "lineage/2-COMPLETE.json",
    ]
    assert second[0].read_bytes() == to_json(end)
    assert sorted(p.name for p in (tmp_path / "lineage").iterdir()) == [
        "1-START.json",
        "2-COMPLETE.json",
    ]


def test_a_run_of_another_pipeline_is_refused() -> None:
    with pytest.raises(ValueError, match="not a run of"):
        end_event(plan(ORDERS), succeeded_validate_run())


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        start_event(plan(VALIDATE), run_id=RUN_ID, started_at="2026-11-23T20:43:32")


def test_lineage_reads_the_graph_as_the_executor_builds_it() -> None:
    assert ASSERTIONS_SLICE == executor.ASSERT_NODE
    assert events.RESHAPING_STEPS == executor.RESHAPING_STEPS
