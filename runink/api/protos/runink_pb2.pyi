from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Condition(_message.Message):
    __slots__ = ("type", "status", "reason", "message", "last_transition_time", "observed_revision")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_TRANSITION_TIME_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_REVISION_FIELD_NUMBER: _ClassVar[int]
    type: str
    status: str
    reason: str
    message: str
    last_transition_time: str
    observed_revision: str
    def __init__(self, type: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., last_transition_time: _Optional[str] = ..., observed_revision: _Optional[str] = ...) -> None: ...

class SourceRequest(_message.Message):
    __slots__ = ("herd",)
    HERD_FIELD_NUMBER: _ClassVar[int]
    herd: str
    def __init__(self, herd: _Optional[str] = ...) -> None: ...

class SourceInfo(_message.Message):
    __slots__ = ("repo", "fetched_revision", "applied_revision", "conditions", "updated_at")
    REPO_FIELD_NUMBER: _ClassVar[int]
    FETCHED_REVISION_FIELD_NUMBER: _ClassVar[int]
    APPLIED_REVISION_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    repo: str
    fetched_revision: str
    applied_revision: str
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    updated_at: str
    def __init__(self, repo: _Optional[str] = ..., fetched_revision: _Optional[str] = ..., applied_revision: _Optional[str] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., updated_at: _Optional[str] = ...) -> None: ...

class SourceReply(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[SourceInfo]
    def __init__(self, sources: _Optional[_Iterable[_Union[SourceInfo, _Mapping]]] = ...) -> None: ...

class ListHerdsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HerdInfo(_message.Message):
    __slots__ = ("name", "revision", "suspended", "pipelines", "secrets", "labels")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    revision: str
    suspended: bool
    pipelines: int
    secrets: _containers.RepeatedScalarFieldContainer[str]
    labels: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., revision: _Optional[str] = ..., suspended: _Optional[bool] = ..., pipelines: _Optional[int] = ..., secrets: _Optional[_Iterable[str]] = ..., labels: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListHerdsReply(_message.Message):
    __slots__ = ("herds",)
    HERDS_FIELD_NUMBER: _ClassVar[int]
    herds: _containers.RepeatedCompositeFieldContainer[HerdInfo]
    def __init__(self, herds: _Optional[_Iterable[_Union[HerdInfo, _Mapping]]] = ...) -> None: ...

class HerdRequest(_message.Message):
    __slots__ = ("herd",)
    HERD_FIELD_NUMBER: _ClassVar[int]
    herd: str
    def __init__(self, herd: _Optional[str] = ...) -> None: ...

class HerdReply(_message.Message):
    __slots__ = ("herd", "herd_json")
    HERD_FIELD_NUMBER: _ClassVar[int]
    HERD_JSON_FIELD_NUMBER: _ClassVar[int]
    herd: HerdInfo
    herd_json: str
    def __init__(self, herd: _Optional[_Union[HerdInfo, _Mapping]] = ..., herd_json: _Optional[str] = ...) -> None: ...

class ListPipelinesRequest(_message.Message):
    __slots__ = ("herd",)
    HERD_FIELD_NUMBER: _ClassVar[int]
    herd: str
    def __init__(self, herd: _Optional[str] = ...) -> None: ...

class PipelineSummary(_message.Message):
    __slots__ = ("herd", "pipeline", "revision", "desired_revision", "sync", "health", "slices_ready", "slices_total", "last_run_id", "last_run_outcome", "last_run_at", "records_read", "records_written", "records_dlq", "updated_at", "message", "suspended", "trigger")
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DESIRED_REVISION_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    SLICES_READY_FIELD_NUMBER: _ClassVar[int]
    SLICES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_READ_FIELD_NUMBER: _ClassVar[int]
    RECORDS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    RECORDS_DLQ_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    herd: str
    pipeline: str
    revision: str
    desired_revision: str
    sync: str
    health: str
    slices_ready: int
    slices_total: int
    last_run_id: str
    last_run_outcome: str
    last_run_at: str
    records_read: int
    records_written: int
    records_dlq: int
    updated_at: str
    message: str
    suspended: bool
    trigger: str
    def __init__(self, herd: _Optional[str] = ..., pipeline: _Optional[str] = ..., revision: _Optional[str] = ..., desired_revision: _Optional[str] = ..., sync: _Optional[str] = ..., health: _Optional[str] = ..., slices_ready: _Optional[int] = ..., slices_total: _Optional[int] = ..., last_run_id: _Optional[str] = ..., last_run_outcome: _Optional[str] = ..., last_run_at: _Optional[str] = ..., records_read: _Optional[int] = ..., records_written: _Optional[int] = ..., records_dlq: _Optional[int] = ..., updated_at: _Optional[str] = ..., message: _Optional[str] = ..., suspended: _Optional[bool] = ..., trigger: _Optional[str] = ...) -> None: ...

class ListPipelinesReply(_message.Message):
    __slots__ = ("pipelines",)
    PIPELINES_FIELD_NUMBER: _ClassVar[int]
    pipelines: _containers.RepeatedCompositeFieldContainer[PipelineSummary]
    def __init__(self, pipelines: _Optional[_Iterable[_Union[PipelineSummary, _Mapping]]] = ...) -> None: ...

class PipelineRequest(_message.Message):
    __slots__ = ("herd", "pipeline")
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    herd: str
    pipeline: str
    def __init__(self, herd: _Optional[str] = ..., pipeline: _Optional[str] = ...) -> None: ...

class SliceState(_message.Message):
    __slots__ = ("node", "slice", "state", "restarts", "message")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SLICE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    node: str
    slice: str
    state: str
    restarts: int
    message: str
    def __init__(self, node: _Optional[str] = ..., slice: _Optional[str] = ..., state: _Optional[str] = ..., restarts: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class PipelineReply(_message.Message):
    __slots__ = ("summary", "conditions", "slices", "plan_json")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    summary: PipelineSummary
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    slices: _containers.RepeatedCompositeFieldContainer[SliceState]
    plan_json: str
    def __init__(self, summary: _Optional[_Union[PipelineSummary, _Mapping]] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., slices: _Optional[_Iterable[_Union[SliceState, _Mapping]]] = ..., plan_json: _Optional[str] = ...) -> None: ...

class StepStatus(_message.Message):
    __slots__ = ("id", "kind", "name", "state", "counts", "has_exit_code", "exit_code", "error")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    HAS_EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: str
    name: str
    state: str
    counts: _containers.ScalarMap[str, int]
    has_exit_code: bool
    exit_code: int
    error: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., counts: _Optional[_Mapping[str, int]] = ..., has_exit_code: _Optional[bool] = ..., exit_code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class RunSummary(_message.Message):
    __slots__ = ("run_id", "herd", "pipeline", "revision", "outcome", "started_at", "ended_at", "node", "totals", "steps", "problems", "events_json")
    class TotalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    herd: str
    pipeline: str
    revision: str
    outcome: str
    started_at: str
    ended_at: str
    node: str
    totals: _containers.ScalarMap[str, int]
    steps: _containers.RepeatedCompositeFieldContainer[StepStatus]
    problems: _containers.RepeatedScalarFieldContainer[str]
    events_json: str
    def __init__(self, run_id: _Optional[str] = ..., herd: _Optional[str] = ..., pipeline: _Optional[str] = ..., revision: _Optional[str] = ..., outcome: _Optional[str] = ..., started_at: _Optional[str] = ..., ended_at: _Optional[str] = ..., node: _Optional[str] = ..., totals: _Optional[_Mapping[str, int]] = ..., steps: _Optional[_Iterable[_Union[StepStatus, _Mapping]]] = ..., problems: _Optional[_Iterable[str]] = ..., events_json: _Optional[str] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ("herd", "pipeline", "limit")
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    herd: str
    pipeline: str
    limit: int
    def __init__(self, herd: _Optional[str] = ..., pipeline: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListRunsReply(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[RunSummary]
    def __init__(self, runs: _Optional[_Iterable[_Union[RunSummary, _Mapping]]] = ...) -> None: ...

class RunRequest(_message.Message):
    __slots__ = ("herd", "run_id")
    HERD_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    herd: str
    run_id: str
    def __init__(self, herd: _Optional[str] = ..., run_id: _Optional[str] = ...) -> None: ...

class RunReply(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: RunSummary
    def __init__(self, run: _Optional[_Union[RunSummary, _Mapping]] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ("herd",)
    HERD_FIELD_NUMBER: _ClassVar[int]
    herd: str
    def __init__(self, herd: _Optional[str] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("name", "labels", "cpu_millis", "memory_bytes", "agent_version", "registered_at", "ready")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLIS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    name: str
    labels: _containers.ScalarMap[str, str]
    cpu_millis: int
    memory_bytes: int
    agent_version: str
    registered_at: str
    ready: bool
    def __init__(self, name: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., cpu_millis: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., agent_version: _Optional[str] = ..., registered_at: _Optional[str] = ..., ready: _Optional[bool] = ...) -> None: ...

class ListNodesReply(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ...) -> None: ...

class SetSecretRequest(_message.Message):
    __slots__ = ("herd", "name", "value")
    HERD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    herd: str
    name: str
    value: bytes
    def __init__(self, herd: _Optional[str] = ..., name: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...

class SecretInfo(_message.Message):
    __slots__ = ("herd", "name", "version", "updated_at", "updated_by")
    HERD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    herd: str
    name: str
    version: int
    updated_at: str
    updated_by: str
    def __init__(self, herd: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., updated_at: _Optional[str] = ..., updated_by: _Optional[str] = ...) -> None: ...

class ListSecretsRequest(_message.Message):
    __slots__ = ("herd",)
    HERD_FIELD_NUMBER: _ClassVar[int]
    herd: str
    def __init__(self, herd: _Optional[str] = ...) -> None: ...

class ListSecretsReply(_message.Message):
    __slots__ = ("secrets", "missing")
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    secrets: _containers.RepeatedCompositeFieldContainer[SecretInfo]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, secrets: _Optional[_Iterable[_Union[SecretInfo, _Mapping]]] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("node", "labels", "cpu_millis", "memory_bytes", "agent_version", "ttl_seconds")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NODE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLIS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    node: str
    labels: _containers.ScalarMap[str, str]
    cpu_millis: int
    memory_bytes: int
    agent_version: str
    ttl_seconds: int
    def __init__(self, node: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., cpu_millis: _Optional[int] = ..., memory_bytes: _Optional[int] = ..., agent_version: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class RegisterReply(_message.Message):
    __slots__ = ("lease_id", "ttl_seconds")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    lease_id: int
    ttl_seconds: int
    def __init__(self, lease_id: _Optional[int] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node", "lease_id")
    NODE_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    node: str
    lease_id: int
    def __init__(self, node: _Optional[str] = ..., lease_id: _Optional[int] = ...) -> None: ...

class HeartbeatReply(_message.Message):
    __slots__ = ("ttl_seconds",)
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ttl_seconds: int
    def __init__(self, ttl_seconds: _Optional[int] = ...) -> None: ...

class WatchAssignmentsRequest(_message.Message):
    __slots__ = ("node", "from_revision")
    NODE_FIELD_NUMBER: _ClassVar[int]
    FROM_REVISION_FIELD_NUMBER: _ClassVar[int]
    node: str
    from_revision: int
    def __init__(self, node: _Optional[str] = ..., from_revision: _Optional[int] = ...) -> None: ...

class AssignmentEvent(_message.Message):
    __slots__ = ("type", "herd", "pipeline", "revision", "assignment_json", "plan_json")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PUT: _ClassVar[AssignmentEvent.Type]
        DELETE: _ClassVar[AssignmentEvent.Type]
        SYNCED: _ClassVar[AssignmentEvent.Type]
    PUT: AssignmentEvent.Type
    DELETE: AssignmentEvent.Type
    SYNCED: AssignmentEvent.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    type: AssignmentEvent.Type
    herd: str
    pipeline: str
    revision: int
    assignment_json: str
    plan_json: str
    def __init__(self, type: _Optional[_Union[AssignmentEvent.Type, str]] = ..., herd: _Optional[str] = ..., pipeline: _Optional[str] = ..., revision: _Optional[int] = ..., assignment_json: _Optional[str] = ..., plan_json: _Optional[str] = ...) -> None: ...

class SliceReport(_message.Message):
    __slots__ = ("node", "herd", "pipeline", "revision", "slices")
    NODE_FIELD_NUMBER: _ClassVar[int]
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    SLICES_FIELD_NUMBER: _ClassVar[int]
    node: str
    herd: str
    pipeline: str
    revision: str
    slices: _containers.RepeatedCompositeFieldContainer[SliceState]
    def __init__(self, node: _Optional[str] = ..., herd: _Optional[str] = ..., pipeline: _Optional[str] = ..., revision: _Optional[str] = ..., slices: _Optional[_Iterable[_Union[SliceState, _Mapping]]] = ...) -> None: ...

class RunReport(_message.Message):
    __slots__ = ("node", "run")
    NODE_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    node: str
    run: RunSummary
    def __init__(self, node: _Optional[str] = ..., run: _Optional[_Union[RunSummary, _Mapping]] = ...) -> None: ...

class ReportReply(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class AgentSecretRequest(_message.Message):
    __slots__ = ("node", "herd", "name")
    NODE_FIELD_NUMBER: _ClassVar[int]
    HERD_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    node: str
    herd: str
    name: str
    def __init__(self, node: _Optional[str] = ..., herd: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class AgentSecretReply(_message.Message):
    __slots__ = ("name", "version", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    value: bytes
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., value: _Optional[bytes] = ...) -> None: ...

class CheckpointRequest(_message.Message):
    __slots__ = ("node", "herd", "pipeline", "offsets_json")
    NODE_FIELD_NUMBER: _ClassVar[int]
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_JSON_FIELD_NUMBER: _ClassVar[int]
    node: str
    herd: str
    pipeline: str
    offsets_json: str
    def __init__(self, node: _Optional[str] = ..., herd: _Optional[str] = ..., pipeline: _Optional[str] = ..., offsets_json: _Optional[str] = ...) -> None: ...

class CheckpointReply(_message.Message):
    __slots__ = ("offsets_json",)
    OFFSETS_JSON_FIELD_NUMBER: _ClassVar[int]
    offsets_json: str
    def __init__(self, offsets_json: _Optional[str] = ...) -> None: ...

class AgentRunsRequest(_message.Message):
    __slots__ = ("node", "herd", "pipeline", "limit")
    NODE_FIELD_NUMBER: _ClassVar[int]
    HERD_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    node: str
    herd: str
    pipeline: str
    limit: int
    def __init__(self, node: _Optional[str] = ..., herd: _Optional[str] = ..., pipeline: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...
