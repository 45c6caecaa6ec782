"""gRPC client of the Runink API: mTLS channel, bearer token, one-line errors."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from runink.api.protos import runink_pb2 as pb
from runink.api.protos import runink_pb2_grpc as pb_grpc

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


class ApiError(Exception):
    """A call failed; ``str()`` is one line a person can act on, ``code`` the gRPC code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_dict(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return str(field.enum_type.values_by_number[value].name)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    return value


def to_dict(message: Message) -> dict[str, Any]:
    """A protobuf message as a plain dict: .proto field names, every field, and integers
    as numbers (protobuf's JSON mapping would quote 64-bit integers)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            inner = entry.fields_by_name["value"]
            out[field.name] = {k: _value(inner, v) for k, v in sorted(value.items())}
        elif field.is_repeated:
            out[field.name] = [_value(field, v) for v in value]
        else:
            out[field.name] = _value(field, value)
    return out


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ApiError("INVALID_ARGUMENT", f"cannot read {what} {path}: {exc.strerror}") from None


class ApiClient:
    """One mTLS channel to the server; people's calls carry ``token`` as a bearer token."""

    def __init__(
        self,
        server: str,
        ca: bytes,
        cert: bytes,
        key: bytes,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.server = server
        self.timeout = timeout
        credentials = grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )
        self._channel = grpc.secure_channel(server, credentials)
        self._metadata = () if not token else (("authorization", f"Bearer {token}"),)
        # The generated stubs are untyped; call() restores the reply types.
        self.status: Any = pb_grpc.StatusStub(self._channel)  # type: ignore[no-untyped-call]
        self.secrets: Any = pb_grpc.SecretsStub(self._channel)  # type: ignore[no-untyped-call]
        self.agent: Any = pb_grpc.AgentStub(self._channel)  # type: ignore[no-untyped-call]

    @classmethod
    def from_files(
        cls,
        server: str,
        ca: Path,
        cert: Path,
        key: Path,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ApiClient:
        """A client whose CA, certificate and key are read from PEM files."""
        return cls(
            server,
            _read(ca, "CA certificate"),
            _read(cert, "client certificate"),
            _read(key, "client key"),
            token,
            timeout,
        )

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _error(self, exc: grpc.RpcError) -> ApiError:
        # Every RpcError grpc raises for a finished call is also a grpc.Call.
        call = cast(grpc.Call, exc)
        code = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
        details = (call.details() if hasattr(call, "details") else None) or ""
        name = code.name if code is not None else "UNKNOWN"
        if code is grpc.StatusCode.UNAVAILABLE:
            return ApiError(name, f"cannot reach the Runink server at {self.server}: {details}")
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return ApiError(
                name, f"the Runink server at {self.server} did not answer in {self.timeout:g} s"
            )
        if code is grpc.StatusCode.UNAUTHENTICATED:
            return ApiError(name, f"the server refused the token: {details}")
        if code is grpc.StatusCode.PERMISSION_DENIED:
            return ApiError(name, f"permission denied: {details}")
        return ApiError(name, f"{name.lower().replace('_', ' ')}: {details}")

    def call(self, method: Callable[..., Any], request: Message, reply: type[T]) -> T:
        """Call a unary RPC with the token and deadline; ApiError on failure."""
        try:
            result = method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        if not isinstance(result, reply):
            raise ApiError("INTERNAL", f"unexpected reply {type(result).__name__}")
        return result

    def stream(
        self, method: Callable[..., Iterator[Any]], request: Message, reply: type[T]
    ) -> Iterator[T]:
        """Call a server-streaming RPC (no deadline); ApiError on failure."""
        try:
            for item in method(request, metadata=self._metadata):
                if isinstance(item, reply):
                    yield item
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    # --- people -------------------------------------------------------------------------

    def list_pipelines(self, herd: str = "") -> list[pb.PipelineSummary]:
        reply = self.call(
            self.status.ListPipelines, pb.ListPipelinesRequest(herd=herd), pb.ListPipelinesReply
        )
        return list(reply.pipelines)

    def get_pipeline(self, herd: str, pipeline: str) -> pb.PipelineReply:
        return self.call(
            self.status.GetPipeline,
            pb.PipelineRequest(herd=herd, pipeline=pipeline),
            pb.PipelineReply,
        )

    def list_runs(self, herd: str, pipeline: str = "", limit: int = 0) -> list[pb.RunSummary]:
        request = pb.ListRunsRequest(herd=herd, pipeline=pipeline, limit=limit)
        return list(self.call(self.status.ListRuns, request, pb.ListRunsReply).runs)

    def get_run(self, herd: str, run_id: str) -> pb.RunSummary:
        return self.call(
            self.status.GetRun, pb.RunRequest(herd=herd, run_id=run_id), pb.RunReply
        ).run

    def list_herds(self) -> list[pb.HerdInfo]:
        return list(
            self.call(self.status.ListHerds, pb.ListHerdsRequest(), pb.ListHerdsReply).herds
        )

    def get_herd(self, herd: str) -> pb.HerdReply:
        return self.call(self.status.GetHerd, pb.HerdRequest(herd=herd), pb.HerdReply)

    def list_nodes(self, herd: str) -> list[pb.NodeInfo]:
        return list(
            self.call(
                self.status.ListNodes, pb.ListNodesRequest(herd=herd), pb.ListNodesReply
            ).nodes
        )

    def get_source(self, herd: str) -> list[pb.SourceInfo]:
        return list(
            self.call(self.status.GetSource, pb.SourceRequest(herd=herd), pb.SourceReply).sources
        )

    def set_secret(self, herd: str, name: str, value: bytes) -> pb.SecretInfo:
        request = pb.SetSecretRequest(herd=herd, name=name, value=value)
        return self.call(self.secrets.SetSecret, request, pb.SecretInfo)

    def list_secrets(self, herd: str) -> pb.ListSecretsReply:
        return self.call(
            self.secrets.ListSecrets, pb.ListSecretsRequest(herd=herd), pb.ListSecretsReply
        )

    # --- agents -------------------------------------------------------------------------

    def register(
        self,
        node: str,
        *,
        labels: dict[str, str] | None = None,
        cpu_millis: int = 0,
        memory_bytes: int = 0,
        agent_version: str = "",
        ttl_seconds: int = 0,
    ) -> pb.RegisterReply:
        request = pb.RegisterRequest(
            node=node,
            labels=labels or {},
            cpu_millis=cpu_millis,
            memory_bytes=memory_bytes,
            agent_version=agent_version,
            ttl_seconds=ttl_seconds,
        )
        return self.call(self.agent.Register, request, pb.RegisterReply)

    def heartbeat(self, node: str, lease_id: int) -> pb.HeartbeatReply:
        return self.call(
            self.agent.Heartbeat,
            pb.HeartbeatRequest(node=node, lease_id=lease_id),
            pb.HeartbeatReply,
        )

    def watch_assignments(self, node: str, from_revision: int = 0) -> Iterator[pb.AssignmentEvent]:
        request = pb.WatchAssignmentsRequest(node=node, from_revision=from_revision)
        return self.stream(self.agent.WatchAssignments, request, pb.AssignmentEvent)

    def report_slices(self, report: pb.SliceReport) -> int:
        return self.call(self.agent.ReportSlices, report, pb.ReportReply).revision

    def report_run(self, node: str, run: pb.RunSummary) -> int:
        return self.call(
            self.agent.ReportRun, pb.RunReport(node=node, run=run), pb.ReportReply
        ).revision

    def get_secret(self, node: str, herd: str, name: str) -> pb.AgentSecretReply:
        request = pb.AgentSecretRequest(node=node, herd=herd, name=name)
        return self.call(self.agent.GetSecret, request, pb.AgentSecretReply)

    def list_pipeline_runs(
        self, node: str, herd: str, pipeline: str, limit: int = 0
    ) -> list[pb.RunSummary]:
        """The latest runs of a pipeline assigned to ``node``, newest first."""
        request = pb.AgentRunsRequest(node=node, herd=herd, pipeline=pipeline, limit=limit)
        return list(self.call(self.agent.ListPipelineRuns, request, pb.ListRunsReply).runs)

    def save_checkpoint(
        self, node: str, herd: str, pipeline: str, offsets: Mapping[str, int]
    ) -> int:
        """Keep a stream's committed source offsets (file -> bytes read) in Barn."""
        request = pb.CheckpointRequest(
            node=node,
            herd=herd,
            pipeline=pipeline,
            offsets_json=orjson.dumps(dict(offsets)).decode(),
        )
        return int(self.call(self.agent.SaveCheckpoint, request, pb.ReportReply).revision)

    def get_checkpoint(self, node: str, herd: str, pipeline: str) -> dict[str, int]:
        """A stream's last saved offsets ({} when none)."""
        request = pb.CheckpointRequest(node=node, herd=herd, pipeline=pipeline)
        reply = self.call(self.agent.GetCheckpoint, request, pb.CheckpointReply)
        value = orjson.loads(reply.offsets_json or "{}")
        return {str(k): int(v) for k, v in value.items()} if isinstance(value, dict) else {}
