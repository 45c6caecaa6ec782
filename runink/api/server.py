"""The gRPC API server: a thin, authorizing layer over Barn.

Every connection is mTLS against the Runink CA (plaintext and other CAs never get a
handshake). People's calls carry a bearer token and are checked against the herd's
roles before Barn is read or written; agents' calls are checked against the node their
certificate names and against the scheduler's assignments.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import grpc
import orjson

from runink.api import keys, rbac
from runink.api.pki import Identity, identity_from_pem
from runink.api.protos import runink_pb2 as pb
from runink.api.protos import runink_pb2_grpc as pb_grpc
from runink.api.records import (
    PACKED_EVENTS,
    AssignmentRecord,
    Condition,
    NodeRecord,
    NodeReport,
    PipelineRecord,
    RecordError,
    RunRecord,
    SecretRecord,
    SliceState,
    SourceRecord,
    StatusRecord,
    herd_from_dict,
    herd_to_dict,
    now_iso,
    pack_events,
)
from runink.api.secrets import Kek, SecretError, seal, unseal
from runink.api.tokens import Principal, TokenError, TokenVerifier
from runink.barn.models import (
    BarnError,
    Compare,
    EventType,
    KeyValue,
    LeaseNotFoundError,
    Op,
)
from runink.barn.node import BarnClient
from runink.repo.herd import Herd

logger = logging.getLogger(__name__)
audit = logging.getLogger("runink.api.audit")

T = TypeVar("T")
DEFAULT_RUN_LIMIT = 20
MAX_RUN_LIMIT = 500
#: Agent leases: a node whose agent misses heartbeats this long is gone.
DEFAULT_NODE_TTL = 10
NODE_TTL_RANGE = (2, 300)
#: Attempts of a read-modify-write before reporting contention.
CAS_ATTEMPTS = 8


# What the API needs of Barn: the one Barn client protocol (Barn and RemoteBarn).
Store = BarnClient


@dataclass(frozen=True)
class TlsFiles:
    """PEM bytes of the CA the server trusts and of its own certificate and key."""

    ca: bytes
    cert: bytes
    key: bytes


@dataclass(frozen=True)
class ApiSettings:
    address: str
    tls: TlsFiles
    verifier: TokenVerifier
    kek: Kek
    max_workers: int = 16


class _Abort(Exception):
    """Ends a call with a gRPC status (raised inside handlers, turned into abort)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _peer_identity(context: grpc.ServicerContext) -> Identity | None:
    # grpc-stubs types the values as bytes; grpc gives a list of bytes per property.
    auth: Mapping[str, Any] = context.auth_context()
    pems = list(auth.get("x509_pem_cert") or [])
    if not pems:
        return None
    try:
        return identity_from_pem(bytes(pems[0]))
    except ValueError:
        return None


def _condition_pb(c: Condition) -> pb.Condition:
    return pb.Condition(
        type=c.type,
        status=c.status,
        reason=c.reason,
        message=c.message,
        last_transition_time=c.last_transition_time,
        observed_revision=c.observed_revision,
    )


def _slice_pb(s: SliceState) -> pb.SliceState:
    return pb.SliceState(
        node=s.node, slice=s.slice, state=s.state, restarts=s.restarts, message=s.message
    )


def run_to_pb(run: RunRecord) -> pb.RunSummary:
    """A RunRecord as its protobuf message."""
    return pb.RunSummary(
        run_id=run.run_id,
        herd=run.herd,
        pipeline=run.pipeline,
        revision=run.revision,
        outcome=run.outcome,
        started_at=run.started_at,
        ended_at=run.ended_at,
        node=run.node,
        totals=dict(run.totals),
        steps=[
            pb.StepStatus(
                id=s.id,
                kind=s.kind,
                name=s.name,
                state=s.state,
                counts=dict(s.counts),
                has_exit_code=s.exit_code is not None,
                exit_code=s.exit_code or 0,
                error=s.error,
            )
            for s in run.steps
        ],
        problems=list(run.problems),
    )


def run_from_pb(message: pb.RunSummary) -> RunRecord:
    """The RunRecord an agent's RunReport carries."""
    return RunRecord.from_dict(
        {
            "run_id": message.run_id,
            "herd": message.herd,
            "pipeline": message.pipeline,
            "revision": message.revision,
            "outcome": message.outcome,
            "started_at": message.started_at,
            "ended_at": message.ended_at,
            "node": message.node,
            "totals": dict(message.totals),
            "steps": [
                {
                    "id": s.id,
                    "kind": s.kind,
                    "name": s.name,
                    "state": s.state,
                    "counts": dict(s.counts),
                    "exit_code": s.exit_code if s.has_exit_code else None,
                    "error": s.error,
                }
                for s in message.steps
            ],
            "problems": list(message.problems),
        }
    )


#: Larger event lists are not queued (the run is still recorded): lineage never fails a run.
MAX_EVENTS_BYTES = 4 * 1024 * 1024


def _lineage_events(run: RunRecord, text: str) -> list[Any] | None:
    """The events a run report carries, None when there are none usable (logged)."""
    if not text:
        return None
    if len(text) > MAX_EVENTS_BYTES:
        logger.warning(
            "run %s: lineage events too large (%d bytes); not queued", run.run_id, len(text)
        )
        return None
    try:
        events = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        logger.warning("run %s: lineage events are not JSON (%s); not queued", run.run_id, exc)
        return None
    if not isinstance(events, list) or not events:
        logger.warning("run %s: lineage events are not a non-empty list; not queued", run.run_id)
        return None
    return events


def _sort_runs(runs: list[RunRecord]) -> list[RunRecord]:
    # UUIDv7 run ids sort by time; the start time decides between other id schemes.
    return sorted(runs, key=lambda r: (r.started_at, r.run_id))


class Api:
    """The RPC logic shared by the three services (authorization, Barn access)."""

    def __init__(self, store: Store, verifier: TokenVerifier, kek: Kek) -> None:
        self.store = store
        self.verifier = verifier
        self.kek = kek

    # --- plumbing ----------------------------------------------------------------------

    def handle(self, rpc: str, context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
        """Run ``fn`` and turn every expected failure into a clean gRPC status."""
        try:
            return fn()
        except _Abort as exc:
            context.abort(exc.code, exc.message)
        except rbac.PermissionDenied as exc:
            audit.warning(
                "denied rpc=%s subject=%s herd=%s missing=%s",
                rpc,
                exc.subject,
                exc.herd or "-",
                exc.permission,
            )
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except keys.KeyNameError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except RecordError as exc:
            logger.error("rpc %s: malformed record in Barn: %s", rpc, exc)
            context.abort(grpc.StatusCode.INTERNAL, f"malformed record in Barn: {exc}")
        except BarnError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"Barn: {exc}")
        except Exception:
            # A bug, not a refusal: the caller gets one line, the log gets the traceback.
            logger.exception("rpc %s failed", rpc)
            context.abort(grpc.StatusCode.INTERNAL, f"{rpc} failed on the server; see its log")

    def principal(self, rpc: str, context: grpc.ServicerContext) -> Principal:
        """The caller of a people's RPC, from its bearer token."""
        token = ""
        for key, value in context.invocation_metadata():
            if key == "authorization" and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() != "bearer":
                    token = ""
        if not token:
            audit.warning("unauthenticated rpc=%s reason=no bearer token", rpc)
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, "no bearer token")
        try:
            return self.verifier.verify(token.strip())
        except TokenError as exc:
            audit.warning("unauthenticated rpc=%s reason=%s", rpc, exc)
            raise _Abort(grpc.StatusCode.UNAUTHENTICATED, str(exc)) from None

    def agent(self, rpc: str, context: grpc.ServicerContext, node: str) -> str:
        """The node of an agent's RPC; only the agent whose certificate names it may act."""
        identity = _peer_identity(context)
        if identity is None or identity.kind != "agent":
            audit.warning("denied rpc=%s peer=%s reason=not an agent", rpc, identity)
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{rpc} needs an agent certificate (CN node:<name>); the caller has "
                f"{identity or 'none'}",
            )
        if node != identity.name:
            audit.warning("denied rpc=%s peer=%s node=%s reason=other node", rpc, identity, node)
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"agent {identity} may act only for node {identity.name!r}, not {node!r}",
            )
        keys.check_name("node", node)
        return node

    def herd(self, name: str) -> Herd | None:
        kv = self.store.get(keys.herd_key(name))
        return None if kv is None else herd_from_dict(kv.value)

    def herds(self) -> list[Herd]:
        return [herd_from_dict(kv.value) for kv in self.store.range(keys.HERDS_PREFIX).kvs]

    def authorized_herd(self, principal: Principal, name: str, perm: rbac.Permission) -> Herd:
        """The herd ``name`` if ``principal`` holds ``perm`` there.

        A herd that does not exist is denied like one the caller may not see, so a
        token cannot probe which herds exist.
        """
        if not name:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "name a herd (herd is empty)")
        herd = self.herd(keys.check_name("herd", name))
        if herd is None:
            raise rbac.PermissionDenied(principal, perm, name)
        rbac.check(principal, herd, perm)
        return herd

    def readable_herds(self, principal: Principal, name: str, perm: rbac.Permission) -> list[Herd]:
        if name:
            return [self.authorized_herd(principal, name, perm)]
        every = self.herds()
        herds = rbac.readable(principal, every, perm)
        # An empty installation hides nothing; herds the caller may not read do.
        if every and not herds:
            raise rbac.PermissionDenied(principal, perm, "")
        return herds

    # --- read side ---------------------------------------------------------------------

    def sources(self) -> list[SourceRecord]:
        return [SourceRecord.from_dict(kv.value) for kv in self.store.range("/sources/").kvs]

    def runs(self, herd: str, pipeline: str | None) -> list[RunRecord]:
        found = self.store.range(keys.runs_prefix(herd, pipeline)).kvs
        return _sort_runs([RunRecord.from_dict(kv.value) for kv in found])

    def summaries(self, herd: Herd) -> list[pb.PipelineSummary]:
        plans = [
            PipelineRecord.from_dict(kv.value)
            for kv in self.store.range(keys.pipelines_prefix(herd.name)).kvs
        ]
        statuses = {}
        for kv in self.store.range(keys.status_prefix(herd.name)).kvs:
            status = StatusRecord.from_dict(kv.value)
            statuses[keys.pipeline_id(herd.name, status.pipeline)] = status
        last_runs: dict[str, RunRecord] = {}
        for run in self.runs(herd.name, None):
            last_runs[keys.pipeline_id(herd.name, run.pipeline)] = run
        return [
            self.summary(
                herd,
                plan,
                statuses.get(keys.pipeline_id(herd.name, plan.pipeline)),
                last_runs.get(keys.pipeline_id(herd.name, plan.pipeline)),
            )
            for plan in plans
        ]

    @staticmethod
    def summary(
        herd: Herd, plan: PipelineRecord, status: StatusRecord | None, last: RunRecord | None
    ) -> pb.PipelineSummary:
        if status is None:
            sync, health, running, message = "Unknown", "Missing", "", "no status reported yet"
            ready = total = 0
            updated = ""
        else:
            running, updated = status.revision, status.updated_at
            sync = status.sync
            if sync == "Unknown" and running:
                sync = "Synced" if running == plan.revision else "OutOfSync"
            health = status.health
            ready, total = status.slices_ready, len(status.slices)
            message = status.message or next(
                (c.message for c in status.conditions if c.status != "True" and c.message), ""
            )
        if herd.suspend:
            health = "Suspended"
        totals = last.totals if last is not None else {}
        return pb.PipelineSummary(
            herd=herd.name,
            pipeline=plan.pipeline,
            revision=running,
            desired_revision=plan.revision,
            sync=sync,
            health=health,
            slices_ready=ready,
            slices_total=total,
            last_run_id="" if last is None else last.run_id,
            last_run_outcome="" if last is None else last.outcome,
            last_run_at="" if last is None else (last.ended_at or last.started_at),
            records_read=int(totals.get("read", 0)),
            records_written=int(totals.get("written", 0)),
            records_dlq=int(totals.get("dlq", 0)),
            updated_at=updated,
            message=message,
            suspended=herd.suspend,
            trigger=plan.trigger,
        )

    def pipeline(self, herd: Herd, name: str) -> pb.PipelineReply:
        kv = self.store.get(keys.pipeline_key(herd.name, name))
        if kv is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"herd {herd.name!r} has no pipeline {name!r}")
        plan = PipelineRecord.from_dict(kv.value)
        status_kv = self.store.get(keys.status_key(herd.name, name))
        status = None if status_kv is None else StatusRecord.from_dict(status_kv.value)
        runs = self.runs(herd.name, name)
        return pb.PipelineReply(
            summary=self.summary(herd, plan, status, runs[-1] if runs else None),
            conditions=[] if status is None else [_condition_pb(c) for c in status.conditions],
            slices=[] if status is None else [_slice_pb(s) for s in status.slices],
            plan_json=_json(plan.to_dict()),
        )

    def run(self, herd: Herd, run_id: str) -> RunRecord:
        keys.check_name("run", run_id)
        for kv in self.store.range(keys.runs_prefix(herd.name)).kvs:
            if keys.last_segment(kv.key) == run_id:
                return RunRecord.from_dict(kv.value)
        raise _Abort(grpc.StatusCode.NOT_FOUND, f"herd {herd.name!r} has no run {run_id!r}")

    def nodes(self) -> list[pb.NodeInfo]:
        result = []
        for kv in self.store.range(keys.NODES_PREFIX).kvs:
            node = NodeRecord.from_dict(kv.value)
            result.append(
                pb.NodeInfo(
                    name=node.name,
                    labels=dict(node.labels),
                    cpu_millis=node.cpu_millis,
                    memory_bytes=node.memory_bytes,
                    agent_version=node.agent_version,
                    registered_at=node.registered_at,
                    ready=kv.lease != 0,
                )
            )
        return result

    @staticmethod
    def herd_info(herd: Herd, pipelines: int) -> pb.HerdInfo:
        return pb.HerdInfo(
            name=herd.name,
            revision=herd.sha,
            suspended=herd.suspend,
            pipelines=pipelines,
            secrets=list(herd.secrets),
            labels=dict(herd.labels),
        )

    def pipeline_count(self, herd: str) -> int:
        return self.store.range(keys.pipelines_prefix(herd)).count

    # --- secrets -----------------------------------------------------------------------

    def set_secret(self, principal: Principal, herd: Herd, name: str, value: bytes) -> SecretInfo:
        keys.check_name("secret", name)
        if name not in herd.secrets:
            raise _Abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"herd {herd.name!r} does not declare secret {name!r}; add it to spec.secrets "
                f"of {herd.path or 'the herd file'} "
                f"(declared: {', '.join(herd.secrets) or 'none'})",
            )
        if not value:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "the secret value is empty")
        key = keys.secret_key(herd.name, name)
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get(key)
            version = 1 if current is None else SecretRecord.from_dict(current.value).version + 1
            try:
                record = seal(
                    self.kek,
                    herd.name,
                    name,
                    version,
                    value,
                    updated_at=now_iso(),
                    updated_by=principal.subject,
                )
            except SecretError as exc:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
            guard = (
                Compare.missing(key)
                if current is None
                else Compare.mod_revision_is(key, current.mod_revision)
            )
            if self.store.txn([guard], [Op.put(key, record.to_dict())]).succeeded:
                audit.info(
                    "secret set herd=%s name=%s version=%d subject=%s",
                    herd.name,
                    name,
                    version,
                    principal.subject,
                )
                return SecretInfo(herd.name, name, version, record.updated_at, record.updated_by)
        raise _Abort(grpc.StatusCode.ABORTED, f"secret {name!r} is being changed concurrently")

    def list_secrets(self, herd: Herd) -> pb.ListSecretsReply:
        records = [
            SecretRecord.from_dict(kv.value)
            for kv in self.store.range(keys.secrets_prefix(herd.name)).kvs
        ]
        stored = {r.name for r in records}
        return pb.ListSecretsReply(
            secrets=[
                pb.SecretInfo(
                    herd=r.herd,
                    name=r.name,
                    version=r.version,
                    updated_at=r.updated_at,
                    updated_by=r.updated_by,
                )
                for r in records
            ],
            missing=[s for s in herd.secrets if s not in stored],
        )

    # --- agents ------------------------------------------------------------------------

    def assignment(self, node: str, herd: str, pipeline: str) -> AssignmentRecord:
        kv = self.store.get(keys.assignment_key(node, herd, pipeline))
        if kv is None:
            audit.warning(
                "denied node=%s herd=%s pipeline=%s reason=not assigned", node, herd, pipeline
            )
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"node {node!r} is not assigned pipeline {keys.pipeline_id(herd, pipeline)}",
            )
        return AssignmentRecord.from_dict(kv.value)

    def agent_secret(self, node: str, herd_name: str, name: str) -> pb.AgentSecretReply:
        keys.check_name("secret", name)
        assigned = self.store.range(
            f"{keys.assignments_prefix(node)}{keys.check_name('herd', herd_name)}/"
        )
        herd = self.herd(herd_name)
        if not assigned.kvs or herd is None or name not in herd.secrets:
            why = (
                "runs no slice of that herd"
                if not assigned.kvs or herd is None
                else "the herd does not declare it"
            )
            audit.warning(
                "denied secret herd=%s name=%s node=%s reason=%s", herd_name, name, node, why
            )
            raise _Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"node {node!r} may not receive secret {herd_name}/{name}: {why}",
            )
        kv = self.store.get(keys.secret_key(herd_name, name))
        if kv is None:
            raise _Abort(
                grpc.StatusCode.NOT_FOUND,
                f"secret {herd_name}/{name} is declared but not set; "
                f"run `runi secret set --herd {herd_name} {name}`",
            )
        record = SecretRecord.from_dict(kv.value)
        try:
            value = unseal(self.kek, record)
        except SecretError as exc:
            logger.error("secret %s/%s: %s", herd_name, name, exc)
            raise _Abort(grpc.StatusCode.INTERNAL, str(exc)) from None
        audit.info(
            "secret delivered herd=%s name=%s version=%d node=%s",
            herd_name,
            name,
            record.version,
            node,
        )
        return pb.AgentSecretReply(name=name, version=record.version, value=value)

    def report_slices(self, node: str, request: pb.SliceReport) -> int:
        self.assignment(node, request.herd, request.pipeline)
        key = keys.status_key(request.herd, request.pipeline)
        report = NodeReport(
            node=node,
            revision=request.revision,
            slices=tuple(
                SliceState(
                    slice=s.slice,
                    state=s.state,
                    node=node,
                    restarts=s.restarts,
                    message=s.message,
                )
                for s in request.slices
            ),
            reported_at=now_iso(),
        )
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get(key)
            if current is None:
                status = StatusRecord(
                    request.herd, keys.pipeline_id(request.herd, request.pipeline)
                )
                guard = Compare.missing(key)
            else:
                status = StatusRecord.from_dict(current.value)
                guard = Compare.mod_revision_is(key, current.mod_revision)
            nodes = {**status.nodes, node: report}
            revisions = {r.revision for r in nodes.values() if r.revision}
            updated = StatusRecord(
                herd=status.herd,
                pipeline=status.pipeline,
                revision=revisions.pop() if len(revisions) == 1 else status.revision,
                sync=status.sync,
                health=status.health,
                message=status.message,
                conditions=status.conditions,
                nodes=nodes,
                updated_at=report.reported_at,
            )
            result = self.store.txn([guard], [Op.put(key, updated.to_dict())])
            if result.succeeded:
                return result.revision
        raise _Abort(grpc.StatusCode.ABORTED, "status is being changed concurrently; retry")

    def report_run(self, node: str, message: pb.RunSummary) -> int:
        run = run_from_pb(message)
        self.assignment(node, run.herd, run.pipeline)
        key = keys.run_key(run.herd, run.pipeline, run.run_id)
        existing = self.store.get(key)
        if existing is not None:
            owner = RunRecord.from_dict(existing.value).node
            if owner and owner != node:
                raise _Abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"run {run.run_id} belongs to node {owner!r}, not {node!r}",
                )
        record = replace(run, node=node, pipeline=keys.pipeline_id(run.herd, run.pipeline))
        ops = [Op.put(key, record.to_dict())]
        events = _lineage_events(record, message.events_json)
        if events is not None:
            # The same transaction: a run on record always has its lineage queued.
            pending = {
                "run_id": record.run_id,
                "herd": record.herd,
                "pipeline": record.pipeline,
                "revision": record.revision,
                "outcome": record.outcome,
                "ended_at": record.ended_at,
                PACKED_EVENTS: pack_events(message.events_json.encode()),
            }
            ops.append(Op.put(keys.lineage_pending_key(record.run_id), pending))
        return self.store.txn([], ops).revision

    def register(self, node: str, request: pb.RegisterRequest) -> pb.RegisterReply:
        ttl = request.ttl_seconds or DEFAULT_NODE_TTL
        low, high = NODE_TTL_RANGE
        if not low <= ttl <= high:
            raise _Abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"ttl_seconds must be {low}-{high}, not {ttl}"
            )
        lease = self.store.lease_grant(ttl)
        record = NodeRecord(
            name=node,
            labels=dict(request.labels),
            cpu_millis=request.cpu_millis,
            memory_bytes=request.memory_bytes,
            agent_version=request.agent_version,
            registered_at=now_iso(),
        )
        self.store.put(keys.node_key(node), record.to_dict(), lease=lease.id)
        logger.info("node %s registered (lease %d, ttl %d s)", node, lease.id, ttl)
        return pb.RegisterReply(lease_id=lease.id, ttl_seconds=lease.ttl)

    def heartbeat(self, node: str, lease_id: int) -> pb.HeartbeatReply:
        kv = self.store.get(keys.node_key(node))
        if kv is None or kv.lease != lease_id:
            raise _Abort(
                grpc.StatusCode.NOT_FOUND,
                f"node {node!r} holds no lease {lease_id}; register again",
            )
        try:
            lease = self.store.lease_keepalive(lease_id)
        except LeaseNotFoundError:
            raise _Abort(
                grpc.StatusCode.NOT_FOUND, f"lease {lease_id} expired; register again"
            ) from None
        return pb.HeartbeatReply(ttl_seconds=lease.ttl)

    def assignment_event(self, kv: KeyValue, deleted: bool) -> pb.AssignmentEvent:
        # /assignments/<node>/<herd>/<feature>/<scenario>
        parts = kv.key.split("/")
        herd, pipeline = parts[3], "/".join(parts[3:])
        if deleted:
            return pb.AssignmentEvent(
                type=pb.AssignmentEvent.DELETE,
                herd=herd,
                pipeline=pipeline,
                revision=kv.mod_revision,
            )
        plan = self.store.get(keys.pipeline_key(herd, pipeline), serializable=True)
        return pb.AssignmentEvent(
            type=pb.AssignmentEvent.PUT,
            herd=herd,
            pipeline=pipeline,
            revision=kv.mod_revision,
            assignment_json=_json(kv.value),
            plan_json="" if plan is None else _json(plan.value),
        )

    def watch_assignments(
        self, node: str, from_revision: int, context: grpc.ServicerContext
    ) -> Iterator[pb.AssignmentEvent]:
        prefix = keys.assignments_prefix(node)
        if from_revision <= 0:
            current = self.store.range(prefix)
            for kv in current.kvs:
                yield self.assignment_event(kv, deleted=False)
            yield pb.AssignmentEvent(type=pb.AssignmentEvent.SYNCED, revision=current.revision)
            from_revision = current.revision + 1
        stream = self.store.watch(prefix, from_revision)
        context.add_callback(stream.cancel)
        try:
            while context.is_active():
                batch = stream.get(timeout=0.5)
                if batch is None:
                    continue
                for event in batch.events:
                    yield self.assignment_event(event.kv, event.type is EventType.DELETE)
        finally:
            stream.cancel()


@dataclass(frozen=True)
class SecretInfo:
    herd: str
    name: str
    version: int
    updated_at: str
    updated_by: str


class StatusService(pb_grpc.StatusServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    def _read(
        self,
        rpc: str,
        context: grpc.ServicerContext,
        fn: Callable[[Principal], T],
    ) -> T:
        def call() -> T:
            return fn(self.api.principal(rpc, context))

        return self.api.handle(rpc, context, call)

    def GetSource(self, request: pb.SourceRequest, context: grpc.ServicerContext) -> pb.SourceReply:
        def fn(p: Principal) -> pb.SourceReply:
            self.api.authorized_herd(p, request.herd, rbac.READ_PIPELINES)
            return pb.SourceReply(
                sources=[
                    pb.SourceInfo(
                        repo=s.repo,
                        fetched_revision=s.fetched_revision,
                        applied_revision=s.applied_revision,
                        conditions=[_condition_pb(c) for c in s.conditions],
                        updated_at=s.updated_at,
                    )
                    for s in self.api.sources()
                ]
            )

        return self._read("Status.GetSource", context, fn)

    def ListHerds(
        self, request: pb.ListHerdsRequest, context: grpc.ServicerContext
    ) -> pb.ListHerdsReply:
        def fn(p: Principal) -> pb.ListHerdsReply:
            herds = self.api.readable_herds(p, "", rbac.READ_PIPELINES)
            return pb.ListHerdsReply(
                herds=[self.api.herd_info(h, self.api.pipeline_count(h.name)) for h in herds]
            )

        return self._read("Status.ListHerds", context, fn)

    def GetHerd(self, request: pb.HerdRequest, context: grpc.ServicerContext) -> pb.HerdReply:
        def fn(p: Principal) -> pb.HerdReply:
            herd = self.api.authorized_herd(p, request.herd, rbac.READ_HERDS)
            return pb.HerdReply(
                herd=self.api.herd_info(herd, self.api.pipeline_count(herd.name)),
                herd_json=_json(herd_to_dict(herd)),
            )

        return self._read("Status.GetHerd", context, fn)

    def ListPipelines(
        self, request: pb.ListPipelinesRequest, context: grpc.ServicerContext
    ) -> pb.ListPipelinesReply:
        def fn(p: Principal) -> pb.ListPipelinesReply:
            herds = self.api.readable_herds(p, request.herd, rbac.READ_PIPELINES)
            return pb.ListPipelinesReply(
                pipelines=[row for h in herds for row in self.api.summaries(h)]
            )

        return self._read("Status.ListPipelines", context, fn)

    def GetPipeline(
        self, request: pb.PipelineRequest, context: grpc.ServicerContext
    ) -> pb.PipelineReply:
        def fn(p: Principal) -> pb.PipelineReply:
            herd = self.api.authorized_herd(p, request.herd, rbac.READ_PIPELINES)
            return self.api.pipeline(herd, request.pipeline)

        return self._read("Status.GetPipeline", context, fn)

    def ListRuns(
        self, request: pb.ListRunsRequest, context: grpc.ServicerContext
    ) -> pb.ListRunsReply:
        def fn(p: Principal) -> pb.ListRunsReply:
            herd = self.api.authorized_herd(p, request.herd, rbac.READ_RUNS)
            limit = min(request.limit or DEFAULT_RUN_LIMIT, MAX_RUN_LIMIT)
            runs = self.api.runs(herd.name, request.pipeline or None)[-limit:]
            return pb.ListRunsReply(runs=[run_to_pb(r) for r in reversed(runs)])

        return self._read("Status.ListRuns", context, fn)

    def GetRun(self, request: pb.RunRequest, context: grpc.ServicerContext) -> pb.RunReply:
        def fn(p: Principal) -> pb.RunReply:
            herd = self.api.authorized_herd(p, request.herd, rbac.READ_RUNS)
            return pb.RunReply(run=run_to_pb(self.api.run(herd, request.run_id)))

        return self._read("Status.GetRun", context, fn)

    def ListNodes(
        self, request: pb.ListNodesRequest, context: grpc.ServicerContext
    ) -> pb.ListNodesReply:
        def fn(p: Principal) -> pb.ListNodesReply:
            self.api.authorized_herd(p, request.herd, rbac.READ_NODES)
            return pb.ListNodesReply(nodes=self.api.nodes())

        return self._read("Status.ListNodes", context, fn)


class SecretsService(pb_grpc.SecretsServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    def SetSecret(
        self, request: pb.SetSecretRequest, context: grpc.ServicerContext
    ) -> pb.SecretInfo:
        rpc = "Secrets.SetSecret"

        def call() -> pb.SecretInfo:
            principal = self.api.principal(rpc, context)
            herd = self.api.authorized_herd(principal, request.herd, rbac.WRITE_SECRETS)
            info = self.api.set_secret(principal, herd, request.name, request.value)
            return pb.SecretInfo(
                herd=info.herd,
                name=info.name,
                version=info.version,
                updated_at=info.updated_at,
                updated_by=info.updated_by,
            )

        return self.api.handle(rpc, context, call)

    def ListSecrets(
        self, request: pb.ListSecretsRequest, context: grpc.ServicerContext
    ) -> pb.ListSecretsReply:
        rpc = "Secrets.ListSecrets"

        def call() -> pb.ListSecretsReply:
            principal = self.api.principal(rpc, context)
            herd = self.api.authorized_herd(principal, request.herd, rbac.READ_SECRETS)
            return self.api.list_secrets(herd)

        return self.api.handle(rpc, context, call)


class AgentService(pb_grpc.AgentServicer):
    def __init__(self, api: Api) -> None:
        self.api = api

    def Register(
        self, request: pb.RegisterRequest, context: grpc.ServicerContext
    ) -> pb.RegisterReply:
        rpc = "Agent.Register"
        return self.api.handle(
            rpc,
            context,
            lambda: self.api.register(self.api.agent(rpc, context, request.node), request),
        )

    def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.ServicerContext
    ) -> pb.HeartbeatReply:
        rpc = "Agent.Heartbeat"
        return self.api.handle(
            rpc,
            context,
            lambda: self.api.heartbeat(
                self.api.agent(rpc, context, request.node), request.lease_id
            ),
        )

    def WatchAssignments(
        self, request: pb.WatchAssignmentsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.AssignmentEvent]:
        rpc = "Agent.WatchAssignments"
        node = self.api.handle(rpc, context, lambda: self.api.agent(rpc, context, request.node))
        events = self.api.watch_assignments(node, request.from_revision, context)
        while True:
            item = self.api.handle(rpc, context, lambda: next(events, None))
            if item is None:
                return
            yield item

    def ReportSlices(
        self, request: pb.SliceReport, context: grpc.ServicerContext
    ) -> pb.ReportReply:
        rpc = "Agent.ReportSlices"

        def call() -> pb.ReportReply:
            node = self.api.agent(rpc, context, request.node)
            return pb.ReportReply(revision=self.api.report_slices(node, request))

        return self.api.handle(rpc, context, call)

    def ReportRun(self, request: pb.RunReport, context: grpc.ServicerContext) -> pb.ReportReply:
        rpc = "Agent.ReportRun"

        def call() -> pb.ReportReply:
            node = self.api.agent(rpc, context, request.node)
            return pb.ReportReply(revision=self.api.report_run(node, request.run))

        return self.api.handle(rpc, context, call)

    def GetSecret(
        self, request: pb.AgentSecretRequest, context: grpc.ServicerContext
    ) -> pb.AgentSecretReply:
        rpc = "Agent.GetSecret"

        def call() -> pb.AgentSecretReply:
            node = self.api.agent(rpc, context, request.node)
            return self.api.agent_secret(node, request.herd, request.name)

        return self.api.handle(rpc, context, call)

    def ListPipelineRuns(
        self, request: pb.AgentRunsRequest, context: grpc.ServicerContext
    ) -> pb.ListRunsReply:
        rpc = "Agent.ListPipelineRuns"

        def call() -> pb.ListRunsReply:
            node = self.api.agent(rpc, context, request.node)
            self.api.assignment(node, request.herd, request.pipeline)
            limit = min(request.limit or DEFAULT_RUN_LIMIT, MAX_RUN_LIMIT)
            runs = self.api.runs(request.herd, request.pipeline)[-limit:]
            return pb.ListRunsReply(runs=[run_to_pb(r) for r in reversed(runs)])

        return self.api.handle(rpc, context, call)

    def SaveCheckpoint(
        self, request: pb.CheckpointRequest, context: grpc.ServicerContext
    ) -> pb.ReportReply:
        rpc = "Agent.SaveCheckpoint"

        def call() -> pb.ReportReply:
            node = self.api.agent(rpc, context, request.node)
            self.api.assignment(node, request.herd, request.pipeline)
            try:
                offsets = orjson.loads(request.offsets_json or "{}")
            except orjson.JSONDecodeError:
                raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "offsets_json is not JSON") from None
            if not isinstance(offsets, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in offsets.values()
            ):
                raise _Abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "offsets_json: expected {file: bytes}"
                )
            value = {"offsets": offsets, "node": node, "saved_at": now_iso()}
            put = self.api.store.put(keys.checkpoint_key(request.herd, request.pipeline), value)
            return pb.ReportReply(revision=put.revision)

        return self.api.handle(rpc, context, call)

    def GetCheckpoint(
        self, request: pb.CheckpointRequest, context: grpc.ServicerContext
    ) -> pb.CheckpointReply:
        rpc = "Agent.GetCheckpoint"

        def call() -> pb.CheckpointReply:
            node = self.api.agent(rpc, context, request.node)
            self.api.assignment(node, request.herd, request.pipeline)
            kv = self.api.store.get(keys.checkpoint_key(request.herd, request.pipeline))
            value = kv.value if kv is not None and isinstance(kv.value, dict) else {}
            return pb.CheckpointReply(offsets_json=_json(value.get("offsets") or {}))

        return self.api.handle(rpc, context, call)


class ApiServer:
    """The gRPC server on ``settings.address`` (mTLS only) over ``store``."""

    def __init__(self, store: Store, settings: ApiSettings) -> None:
        self.settings = settings
        self.api = Api(store, settings.verifier, settings.kek)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=settings.max_workers, thread_name_prefix="runink-api"
            ),
            options=[("grpc.so_reuseport", 0)],
        )
        pb_grpc.add_StatusServicer_to_server(  # type: ignore[no-untyped-call]
            StatusService(self.api), self._server
        )
        pb_grpc.add_SecretsServicer_to_server(  # type: ignore[no-untyped-call]
            SecretsService(self.api), self._server
        )
        pb_grpc.add_AgentServicer_to_server(  # type: ignore[no-untyped-call]
            AgentService(self.api), self._server
        )
        credentials = grpc.ssl_server_credentials(
            [(settings.tls.key, settings.tls.cert)],
            root_certificates=settings.tls.ca,
            require_client_auth=True,
        )
        self.port = self._server.add_secure_port(settings.address, credentials)
        if self.port == 0:
            raise OSError(f"cannot listen on {settings.address}")
        self._stopped = threading.Event()

    @property
    def address(self) -> str:
        host = self.settings.address.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    def start(self) -> ApiServer:
        self._server.start()
        logger.info("runink API serving on %s (mTLS)", self.address)
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop accepting calls, end streams, wait up to ``grace`` seconds for the rest."""
        if not self._stopped.is_set():
            self._stopped.set()
            self._server.stop(grace).wait(grace + 5)

    def wait(self) -> None:
        self._server.wait_for_termination()
