"""OpenLineage events of one pipeline run (OpenLineage 2-0-2).

A run emits two RunEvents: ``START`` (built from the Plan when the run begins) and
``COMPLETE`` or ``FAIL`` (built from the Plan and the RunResult when it ends). The job
is the pipeline (namespace ``runink://<repository>/<herd>``, name the pipeline id); the
input is the source, the outputs are the sinks. ``docs/lineage.md`` describes the
naming and every facet.

Events are committed to git and signed (DESIGN §8), so they are permanent: nothing
here may carry a record value or a secret. That is why an error's text and every
traceback stay out of them (an exception message or a traceback line can quote a
record), and why no facet is built from record content, only from the Plan, the
contracts and the counts.

The objects are openlineage-python's (``openlineage.client.event_v2``/``facet_v2``):
their facet classes are generated from the same spec versions as the schemas the
tests validate against, and they carry the right ``_schemaURL`` for each facet.
:func:`to_json` turns one into canonical bytes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

import orjson
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    JobFacet,
    OutputDatasetFacet,
    RunFacet,
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    datasource_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from runink import __version__
from runink.compiler.plan import Node, Plan
from runink.contracts import Contract, ContractProperty, SchemaObject, contract_from_data
from runink.dsl import DslError, compile_expression
from runink.uris import SINK_SCHEMES, SOURCE_SCHEMES, parse_uri

if TYPE_CHECKING:
    # Types only: the executor imports this module to emit the events of its runs.
    from runink.runtime.executor import RunResult, SliceStatus

#: Who wrote the events: Runink's source at the release that emitted them.
PRODUCER: Final = f"https://github.com/runink/runink/tree/v{__version__}"
#: The spec version the events follow; their ``schemaURL`` points into it.
SCHEMA_URL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#: ``jobType`` facet values: Runink is the integration, a pipeline the job type.
INTEGRATION: Final = "RUNINK"
JOB_TYPE: Final = "PIPELINE"
#: The repository part of namespaces when the repository has no name (runink.yaml).
LOCAL_REPOSITORY: Final = "local"
#: The slice the executor inserts before the sinks to check the scenario's assertions
#: (``runink.runtime.executor.ASSERT_NODE``; a test keeps the two equal).
ASSERTIONS_SLICE: Final = "assertions"
#: Steps after which records no longer have the upstream contract's shape.
RESHAPING_STEPS: Final = frozenset({"Aggregate", "Select", "Rename"})
#: Directory of a run dir that :func:`write_events` writes to.
LINEAGE_DIR: Final = "lineage"

_SCHEMES = tuple(dict.fromkeys(SOURCE_SCHEMES + SINK_SCHEMES))
# Errors the supervisor itself writes: fixed text, never data, so shown as they are.
_SUPERVISOR_ERROR = re.compile(
    r"(killed by (SIG[A-Z0-9]+|signal \d+)|exited with status -?\d+|timed out"
    r"|closed its control channel without reporting)"
)
_EXCEPTION_TYPE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*):")

ContractInput = Contract | Mapping[str, Any]
"""A contract as the model, or its ODCS document (what the executor hands slices)."""


@dataclass(frozen=True)
class DatasetName:
    """An OpenLineage dataset identity: ``namespace`` (where) and ``name`` (what)."""

    namespace: str
    name: str


def job_namespace(repository: str | None, herd: str) -> str:
    """``runink://<repository or "local">/<herd>``: where a herd's pipelines live."""
    return f"runink://{_location(repository, herd)}"


def dataset_name(uri: str, *, repository: str | None, herd: str) -> DatasetName:
    """Name the dataset a source or sink URI addresses.

    Relative paths resolve against the herd's data directory, which Runink names
    ``<repository>/<herd>`` wherever it is on disk, so that every run of every
    pipeline of the herd names a dataset the same way, on any node:

    * ``duckdb://warehouse.duckdb#silver.trades`` -> namespace
      ``duckdb://<repository>/<herd>/warehouse.duckdb``, name ``silver.trades``
      (``#trades`` is ``main.trades``, DuckDB's default schema);
    * ``jsonl://out/x.jsonl`` (also csv, parquet, dir) -> namespace
      ``file://<repository>/<herd>``, name ``out/x.jsonl``;
    * ``stdin://`` / ``stdout://`` -> namespace ``stdio://<repository>/<herd>``, name
      ``stdin`` / ``stdout``.
    """
    parsed = parse_uri(uri, _SCHEMES)
    root = _location(repository, herd)
    if parsed.scheme == "duckdb":
        table = parsed.fragment or ""
        return DatasetName(
            f"duckdb://{root}/{quote(parsed.path)}", table if "." in table else f"main.{table}"
        )
    if parsed.scheme in ("stdin", "stdout"):
        return DatasetName(f"stdio://{root}", parsed.scheme)
    return DatasetName(f"file://{root}", parsed.path)


def start_event(
    plan: Plan,
    *,
    run_id: str,
    started_at: str | datetime,
    contracts: Mapping[str, ContractInput] | None = None,
    repository: str | None = None,
    source: str | None = None,
    nominal_time: str | datetime | None = None,
) -> RunEvent:
    """The ``START`` event of run ``run_id`` of ``plan``, at ``started_at``.

    ``contracts`` (by id) give the datasets their ``schema`` facet; ``source``
    replaces the plan's source URI as ``Executor.run(source=...)`` does;
    ``nominal_time`` is the schedule time of a scheduled run.
    """
    return _event(
        RunState.START,
        plan,
        run_id=run_id,
        event_time=started_at,
        contracts=_contracts(contracts),
        repository=repository,
        source=source,
        nominal_time=nominal_time,
        result=None,
    )


def end_event(
    plan: Plan,
    result: RunResult,
    *,
    contracts: Mapping[str, ContractInput] | None = None,
    repository: str | None = None,
    source: str | None = None,
    nominal_time: str | datetime | None = None,
) -> RunEvent:
    """The ``COMPLETE`` (outcome succeeded) or ``FAIL`` event of ``result``, at its end."""
    if result.pipeline != plan.pipeline:
        raise ValueError(f"run of {result.pipeline!r} is not a run of {plan.pipeline!r}")
    return _event(
        RunState.COMPLETE if result.ok else RunState.FAIL,
        plan,
        run_id=result.run_id,
        event_time=result.ended_at,
        contracts=_contracts(contracts),
        repository=repository,
        source=source,
        nominal_time=nominal_time,
        result=result,
    )


def run_events(
    plan: Plan,
    result: RunResult,
    *,
    contracts: Mapping[str, ContractInput] | None = None,
    repository: str | None = None,
    source: str | None = None,
    nominal_time: str | datetime | None = None,
) -> tuple[RunEvent, RunEvent]:
    """Both events of a finished run: ``START`` at its start, then its end event."""
    options: dict[str, Any] = {
        "contracts": contracts,
        "repository": repository,
        "source": source,
        "nominal_time": nominal_time,
    }
    start = start_event(plan, run_id=result.run_id, started_at=result.started_at, **options)
    return start, end_event(plan, result, **options)


def to_dict(event: RunEvent) -> dict[str, Any]:
    """The event as JSON-ready data; unset (None) fields are left out."""
    return Serde.to_dict(event)


def to_json(event: RunEvent) -> bytes:
    """Canonical JSON: sorted keys, no insignificant whitespace, stable bytes."""
    return orjson.dumps(to_dict(event), option=orjson.OPT_SORT_KEYS)


def write_events(run_dir: Path, events: Iterable[RunEvent]) -> list[Path]:
    """Write each event to ``<run_dir>/lineage/<n>-<eventType>.json``; the paths written.

    ``n`` counts on from the events already there, so writing ``START`` when the run
    begins and the end event when it ends gives ``1-START.json``, ``2-COMPLETE.json``.
    Each file appears whole (written aside, then renamed).
    """
    directory = run_dir / LINEAGE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    taken = [
        int(head)
        for path in directory.glob("*-*.json")
        if (head := path.name.split("-", 1)[0]).isdigit()
    ]
    number = max(taken, default=0)
    written: list[Path] = []
    for event in events:
        if event.eventType is None:
            raise ValueError("a run event needs an eventType")
        number += 1
        path = directory / f"{number}-{event.eventType.value}.json"
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(to_json(event))
        os.replace(partial, path)
        written.append(path)
    return written


# -- building ----------------------------------------------------------------------


def _event(
    state: RunState,
    plan: Plan,
    *,
    run_id: str,
    event_time: str | datetime,
    contracts: Mapping[str, Contract],
    repository: str | None,
    source: str | None,
    nominal_time: str | datetime | None,
    result: RunResult | None,
) -> RunEvent:
    statuses = {s.id: s for s in result.slices} if result is not None else {}
    checks = _checks(plan, statuses) if result is not None else []
    inputs: list[InputDataset] = []
    outputs: list[OutputDataset] = []
    for node in plan.nodes:
        if node.kind == "source":
            uri = source if source is not None else node.uri
            status = statuses.get(node.id)
            inputs.append(_input(node, uri, plan, contracts, repository, status, checks))
        elif node.kind == "sink":
            outputs.append(_output(node, plan, contracts, repository, statuses.get(node.id)))
    run_facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name="Runink", producer=PRODUCER
        )
    }
    if nominal_time is not None and plan.trigger.kind == "schedule":
        run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=_iso_utc(nominal_time), producer=PRODUCER
        )
    if result is not None and not result.ok:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=_error_message(result),
            programmingLanguage="python",
            producer=PRODUCER,
        )
    return RunEvent(
        eventType=state,
        eventTime=_iso_utc(event_time),
        run=Run(runId=run_id, facets=run_facets),
        job=Job(
            namespace=job_namespace(repository, plan.herd),
            name=plan.pipeline,
            facets=_job_facets(plan),
        ),
        inputs=inputs,
        outputs=outputs,
        producer=PRODUCER,
    )


def _job_facets(plan: Plan) -> dict[str, JobFacet]:
    text = "\n".join((f"Feature: {plan.title}", f"Scenario: {plan.scenario}", *plan.description))
    return {
        "documentation": documentation_job.DocumentationJobFacet(
            description=text, contentType="text/plain", producer=PRODUCER
        ),
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="STREAMING" if plan.trigger.kind == "stream" else "BATCH",
            integration=INTEGRATION,
            jobType=JOB_TYPE,
            producer=PRODUCER,
        ),
    }


def _input(
    node: Node,
    uri: str | None,
    plan: Plan,
    contracts: Mapping[str, Contract],
    repository: str | None,
    status: SliceStatus | None,
    checks: list[data_quality_assertions_dataset.Assertion],
) -> InputDataset:
    name = dataset_name(str(uri), repository=repository, herd=plan.herd)
    contract = contracts.get(node.contract.id) if node.contract else None
    facets = _dataset_facets(name, str(uri), contract, node.fields_out)
    input_facets: dict[str, InputDatasetFacet] = {}
    if status is not None and status.state == "succeeded":
        input_facets["dataQualityMetrics"] = (
            data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                columnMetrics={}, rowCount=status.counts.get("in", 0), producer=PRODUCER
            )
        )
    if checks:
        input_facets["dataQualityAssertions"] = (
            data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                assertions=checks, producer=PRODUCER
            )
        )
    return InputDataset(
        namespace=name.namespace, name=name.name, facets=facets, inputFacets=input_facets
    )


def _output(
    node: Node,
    plan: Plan,
    contracts: Mapping[str, Contract],
    repository: str | None,
    status: SliceStatus | None,
) -> OutputDataset:
    name = dataset_name(str(node.uri), repository=repository, herd=plan.herd)
    contract_id = node.contract.id if node.contract else _upstream_contract(plan, node.id)
    upstream = [e.source for e in plan.edges if e.target == node.id]
    fields = plan.node(upstream[0]).fields_out if len(upstream) == 1 else None
    facets = _dataset_facets(name, str(node.uri), contracts.get(contract_id or ""), fields)
    output_facets: dict[str, OutputDatasetFacet] = {}
    # A sink that did not succeed committed nothing (its partial file is removed).
    if status is not None and status.state == "succeeded":
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=status.counts.get("out", 0), producer=PRODUCER
            )
        )
    return OutputDataset(
        namespace=name.namespace, name=name.name, facets=facets, outputFacets=output_facets
    )


def _dataset_facets(
    name: DatasetName, uri: str, contract: Contract | None, fields_out: tuple[str, ...] | None
) -> dict[str, DatasetFacet]:
    facets: dict[str, DatasetFacet] = {
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name=name.namespace, uri=name.namespace, producer=PRODUCER
        )
    }
    schema = _schema_object(contract, uri) if contract is not None else None
    if schema is not None:
        fields = _schema_fields(schema.properties)
    elif fields_out:
        # No contract says what the records hold here, but the compiler knows their
        # fields (e.g. after Aggregate); their types it does not know.
        fields = [schema_dataset.SchemaDatasetFacetFields(name=f, fields=None) for f in fields_out]
    else:
        return facets
    facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=fields, producer=PRODUCER)
    return facets


def _schema_object(contract: Contract, uri: str) -> SchemaObject | None:
    """The contract's schema object that describes this dataset, if one clearly does.

    A contract with several schema objects names the one of a table by its
    ``physicalName`` or ``name`` (``silver.trades``), of a file by its file name.
    """
    if len(contract.schemas) == 1:
        return contract.schemas[0]
    parsed = parse_uri(uri, _SCHEMES)
    if parsed.fragment:
        wanted = {parsed.fragment, parsed.fragment.removeprefix("main.")}
    else:
        file_name = parsed.path.rsplit("/", 1)[-1]
        wanted = {file_name, file_name.split(".", 1)[0]}
    matches = [s for s in contract.schemas if s.physical_name in wanted or s.name in wanted]
    return matches[0] if len(matches) == 1 else None


def _schema_fields(
    props: tuple[ContractProperty, ...],
) -> list[schema_dataset.SchemaDatasetFacetFields]:
    fields = []
    for position, prop in enumerate(props, start=1):
        nested = prop.properties or (prop.items.properties if prop.items else ())
        fields.append(
            schema_dataset.SchemaDatasetFacetFields(
                name=prop.name,
                type=prop.logical_type or prop.physical_type,
                description=prop.description or None,
                ordinal_position=position,
                fields=_schema_fields(nested) if nested else None,
            )
        )
    return fields


def _upstream_contract(plan: Plan, node_id: str) -> str | None:
    """The contract of the records reaching ``node_id``: the nearest upstream that has one.

    Mirrors the executor's choice of a sink's contract: a user step or a reshaping
    built-in in between means the records no longer have that contract's shape.
    """
    current, seen = node_id, set()
    while current not in seen:
        seen.add(current)
        upstream = [e.source for e in plan.edges if e.target == current]
        if len(upstream) != 1:
            return None
        previous = plan.node(upstream[0])
        if previous.contract is not None:
            return previous.contract.id
        if previous.kind == "step" and (previous.module or previous.name in RESHAPING_STEPS):
            return None
        current = previous.id
    return None


# -- data quality ------------------------------------------------------------------


def _checks(
    plan: Plan, statuses: Mapping[str, SliceStatus]
) -> list[data_quality_assertions_dataset.Assertion]:
    """The checks the records read from the source went through, with their results.

    OpenLineage defines ``dataQualityAssertions`` as an input dataset facet: a check
    is something a job does to data it reads. Runink's checks (``ValidateContract``
    steps, then the scenario's assertions just before the sinks) judge the records
    read from the source, so they are reported there; what reaches a sink passed
    them by construction. A check passes when it rejected no record; one whose slice
    did not finish is reported only if it had already rejected records.
    """
    checks = [
        found
        for node in plan.nodes
        if node.kind == "step" and node.name == "ValidateContract"
        if (found := _contract_check(node, statuses.get(node.id))) is not None
    ]
    if plan.assertions:
        checks += _assertion_checks(plan, statuses.get(ASSERTIONS_SLICE))
    return checks


def _contract_check(
    node: Node, status: SliceStatus | None
) -> data_quality_assertions_dataset.Assertion | None:
    rejected = _rejected(status)
    if rejected is None:
        return None
    if node.contract is not None:
        contract_id, version = node.contract.id, node.contract.version
    else:
        contract_id, version = str(node.params.get("contract", "")), "unknown"
    return data_quality_assertions_dataset.Assertion(
        assertion=f"contract:{contract_id}@{version}",
        success=rejected == 0,
        name=node.id,
        description=(
            f"records conform to data contract {contract_id} {version}; "
            "expected and actual count the records rejected"
        ),
        expected="0",
        actual=str(rejected),
        params=None,
    )


def _assertion_checks(
    plan: Plan, status: SliceStatus | None
) -> list[data_quality_assertions_dataset.Assertion]:
    rejected = _rejected(status)
    if rejected is None:
        return []
    how = "expected and actual count the records rejected"
    if rejected and len(plan.assertions) > 1:
        # The Assert slice counts its rejections, not which assertion made each one:
        # report what is known (some assertion failed) rather than guess which.
        return [
            data_quality_assertions_dataset.Assertion(
                assertion=" and ".join(f"({a.expression})" for a in plan.assertions),
                success=False,
                name=ASSERTIONS_SLICE,
                description=f"every record satisfies each of the scenario's assertions; {how}",
                expected="0",
                actual=str(rejected),
                params=None,
            )
        ]
    return [
        data_quality_assertions_dataset.Assertion(
            assertion=a.expression,
            success=rejected == 0,
            column=_column(a.expression, a.position),
            name=a.position,
            description=f"every record satisfies the assertion; {how}",
            expected="0",
            actual=str(rejected),
            contentType="expression",
            params=None,
        )
        for a in plan.assertions
    ]


def _rejected(status: SliceStatus | None) -> int | None:
    """Records a check slice rejected; None when its result is unknown."""
    if status is None:
        return None
    rejected = status.counts.get("dlq", 0)
    if status.state != "succeeded" and rejected == 0:
        return None
    return rejected


def _column(expression: str, position: str) -> str | None:
    """The one field an expression reads, if it reads exactly one."""
    try:
        used = compile_expression(expression, position).fields_used
    except DslError:
        return None
    return next(iter(used)) if len(used) == 1 else None


# -- errors ------------------------------------------------------------------------


def _error_message(result: RunResult) -> str:
    """Why the run failed, naming the failed slices, without any text they produced.

    An exception's message can quote the record being processed, and lineage is
    committed to git for good: only the exception's type is kept. Its full text and
    traceback stay in the run record (``run.json`` in the run directory).
    """
    parts = [
        f"slice {s.id} ({s.name}) failed: {_safe_error(s.error)}"
        for s in result.slices
        if s.state == "failed"
    ]
    # The executor writes these from slice ids and counts only.
    parts += [f"records unaccounted for: {p}" for p in result.problems]
    return "; ".join(parts) or f"run ended with outcome {result.outcome}"


def _safe_error(error: str | None) -> str:
    if not error:
        return "no error reported"
    if _SUPERVISOR_ERROR.fullmatch(error):
        return error
    match = _EXCEPTION_TYPE.match(error)
    kind = match.group(1) if match else "an error"
    return f"{kind} (its message is in the run record, not in lineage)"


# -- helpers -----------------------------------------------------------------------


def _contracts(contracts: Mapping[str, ContractInput] | None) -> dict[str, Contract]:
    return {
        cid: c if isinstance(c, Contract) else contract_from_data(c, f"contracts/{cid}")
        for cid, c in (contracts or {}).items()
    }


def _location(repository: str | None, herd: str) -> str:
    return f"{quote(repository or LOCAL_REPOSITORY, safe='')}/{quote(herd, safe='')}"


def _iso_utc(moment: str | datetime) -> str:
    """``2026-11-23T20:43:32.123456Z``: ISO-8601 in UTC, microseconds, always alike."""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if value.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; lineage times must be unambiguous")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
