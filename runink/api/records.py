"""The JSON records Barn holds (DESIGN §6), defined once for the API, controllers and agents.

Every record is a frozen dataclass with ``to_dict`` (what is written to Barn) and
``from_dict`` (what is read back; unknown keys are ignored so that a newer writer does
not break an older reader, a missing required key raises :class:`RecordError`).
docs/api.md shows each shape.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from runink.repo.herd import Egress, Herd, NetworkPolicy, Quota, Rule

#: Sync of a pipeline: is the running revision the desired one?
SYNC_VALUES = ("Synced", "OutOfSync", "Unknown")
#: Health of a pipeline, worst of its slices (DESIGN §8).
HEALTH_VALUES = ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown")
#: Slice states in which a slice counts as ready.
READY_STATES = ("running", "succeeded", "scheduled")


def now_iso() -> str:
    """Now, as the records' timestamps are written: UTC, milliseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordError(ValueError):
    """A Barn value does not have the shape of its record (names the key or field)."""


def _req(data: Mapping[str, Any], key: str, kind: str) -> Any:
    if not isinstance(data, Mapping):
        raise RecordError(f"{kind} record is not an object")
    if key not in data or data[key] is None:
        raise RecordError(f"{kind} record has no {key!r}")
    return data[key]


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def _int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RecordError(f"{key!r} is not an integer: {value!r}") from None


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int | float)}


# ------------------------------------------------------------------------ herds


def herd_to_dict(herd: Herd) -> dict[str, Any]:
    """The /herds/<herd> value: the Herd spec at the revision it was applied from."""
    q = herd.quota
    return {
        "name": herd.name,
        "path": herd.path,
        "revision": herd.sha,
        "labels": dict(herd.labels),
        "annotations": dict(herd.annotations),
        "quota": {
            "cpu_millis": q.cpu_millis,
            "memory_bytes": q.memory_bytes,
            "pids": q.pids,
            "slices": q.slices,
        },
        "roles": {role: [str(r) for r in rules] for role, rules in herd.roles.items()},
        "members": {subject: list(roles) for subject, roles in herd.members.items()},
        "secrets": list(herd.secrets),
        "network": {"egress": [f"{e.address}:{e.port}" for e in herd.network.egress]},
        "placement": dict(herd.placement),
        "isolation": herd.isolation,
        "suspend": herd.suspend,
    }


def _rule(text: str) -> Rule:
    verb, sep, resource = str(text).partition(":")
    if not sep:
        raise RecordError(f"rule {text!r} is not verb:resource")
    return Rule(verb, resource)


def herd_from_dict(data: Mapping[str, Any]) -> Herd:
    """A Herd read back from Barn (inverse of :func:`herd_to_dict`)."""
    name = str(_req(data, "name", "herd"))
    quota = data.get("quota") or {}
    egress = []
    for text in (data.get("network") or {}).get("egress") or ():
        address, _, port = str(text).rpartition(":")
        egress.append(Egress(address, int(port)))
    return Herd(
        name=name,
        path=_str(data, "path"),
        sha=_str(data, "revision"),
        labels=dict(data.get("labels") or {}),
        annotations=dict(data.get("annotations") or {}),
        quota=Quota(
            quota.get("cpu_millis"),
            quota.get("memory_bytes"),
            quota.get("pids"),
            quota.get("slices"),
        ),
        roles={
            str(role): tuple(_rule(r) for r in rules)
            for role, rules in (data.get("roles") or {}).items()
        },
        members={
            str(subject): tuple(str(r) for r in roles)
            for subject, roles in (data.get("members") or {}).items()
        },
        secrets=tuple(str(s) for s in data.get("secrets") or ()),
        network=NetworkPolicy(tuple(egress)),
        placement=dict(data.get("placement") or {}),
        isolation=_str(data, "isolation", "strict"),
        suspend=bool(data.get("suspend", False)),
    )


# ------------------------------------------------------------------------ pipelines


@dataclass(frozen=True)
class PipelineRecord:
    """/pipelines/<herd>/<pipeline>: the desired Plan (``Plan.to_dict()``) at a revision."""

    herd: str
    pipeline: str
    revision: str
    hash: str
    trigger: str
    plan: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.plan)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineRecord:
        trigger = data.get("trigger") or {}
        return cls(
            herd=str(_req(data, "herd", "pipeline")),
            pipeline=str(_req(data, "pipeline", "pipeline")),
            revision=_str(data, "revision"),
            hash=_str(data, "hash"),
            trigger=_str(trigger, "kind") if isinstance(trigger, Mapping) else "",
            plan=dict(data),
        )


# ------------------------------------------------------------------------ status


@dataclass(frozen=True)
class Condition:
    """One Kubernetes-style condition (``Ready``, ``Synced``, ``Healthy``...)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""
    observed_revision: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": self.last_transition_time,
            "observedRevision": self.observed_revision,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return cls(
            type=str(_req(data, "type", "condition")),
            status=str(_req(data, "status", "condition")),
            reason=_str(data, "reason"),
            message=_str(data, "message"),
            last_transition_time=_str(data, "lastTransitionTime"),
            observed_revision=_str(data, "observedRevision"),
        )


@dataclass(frozen=True)
class SliceState:
    """What an agent reports of one slice it runs."""

    slice: str
    state: str
    node: str = ""
    restarts: int = 0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "slice": self.slice,
            "state": self.state,
            "node": self.node,
            "restarts": self.restarts,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SliceState:
        return cls(
            slice=str(_req(data, "slice", "slice")),
            state=str(_req(data, "state", "slice")),
            node=_str(data, "node"),
            restarts=_int(data, "restarts"),
            message=_str(data, "message"),
        )


@dataclass(frozen=True)
class NodeReport:
    """The latest report of one node for one pipeline."""

    node: str
    revision: str
    slices: tuple[SliceState, ...]
    reported_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "revision": self.revision,
            "slices": [s.to_dict() for s in self.slices],
            "reportedAt": self.reported_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeReport:
        node = str(_req(data, "node", "node report"))
        return cls(
            node=node,
            revision=_str(data, "revision"),
            slices=tuple(
                SliceState.from_dict({**s, "node": s.get("node") or node})
                for s in data.get("slices") or ()
            ),
            reported_at=_str(data, "reportedAt"),
        )


@dataclass(frozen=True)
class StatusRecord:
    """/status/<herd>/<pipeline>: actual state (agent reports) and the status controller's
    verdict (sync, health, conditions)."""

    herd: str
    pipeline: str
    revision: str = ""
    sync: str = "Unknown"
    health: str = "Unknown"
    message: str = ""
    conditions: tuple[Condition, ...] = ()
    nodes: Mapping[str, NodeReport] = field(default_factory=dict)
    updated_at: str = ""

    @property
    def slices(self) -> tuple[SliceState, ...]:
        """Every reported slice, node by node."""
        return tuple(s for name in sorted(self.nodes) for s in self.nodes[name].slices)

    @property
    def slices_ready(self) -> int:
        return sum(1 for s in self.slices if s.state in READY_STATES)

    def to_dict(self) -> dict[str, Any]:
        return {
            "herd": self.herd,
            "pipeline": self.pipeline,
            "revision": self.revision,
            "sync": self.sync,
            "health": self.health,
            "message": self.message,
            "conditions": [c.to_dict() for c in self.conditions],
            "nodes": {name: report.to_dict() for name, report in sorted(self.nodes.items())},
            "updatedAt": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StatusRecord:
        nodes = data.get("nodes") or {}
        return cls(
            herd=str(_req(data, "herd", "status")),
            pipeline=str(_req(data, "pipeline", "status")),
            revision=_str(data, "revision"),
            sync=_str(data, "sync", "Unknown"),
            health=_str(data, "health", "Unknown"),
            message=_str(data, "message"),
            conditions=tuple(Condition.from_dict(c) for c in data.get("conditions") or ()),
            nodes={
                str(name): NodeReport.from_dict({"node": name, **report})
                for name, report in nodes.items()
            },
            updated_at=_str(data, "updatedAt"),
        )


# ------------------------------------------------------------------------ runs


@dataclass(frozen=True)
class StepRecord:
    """One slice of a finished (or running) run with its record counts."""

    id: str
    kind: str
    name: str
    state: str
    counts: Mapping[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "state": self.state,
            "counts": dict(self.counts),
            "exit_code": self.exit_code,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        exit_code = data.get("exit_code")
        return cls(
            id=str(_req(data, "id", "step")),
            kind=_str(data, "kind"),
            name=_str(data, "name"),
            state=_str(data, "state", "pending"),
            counts=_counts(data.get("counts")),
            exit_code=None if exit_code is None else int(exit_code),
            error=_str(data, "error"),
        )


@dataclass(frozen=True)
class RunRecord:
    """/runs/<herd>/<pipeline>/<run_id>: times, per-step counts, totals and outcome.

    ``from_dict`` also reads ``RunResult.to_dict()`` of the local executor (its
    ``slices`` become ``steps``; local paths are dropped).
    """

    run_id: str
    herd: str
    pipeline: str
    outcome: str
    started_at: str
    ended_at: str = ""
    revision: str = ""
    node: str = ""
    totals: Mapping[str, int] = field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "herd": self.herd,
            "pipeline": self.pipeline,
            "revision": self.revision,
            "node": self.node,
            "outcome": self.outcome,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "totals": dict(self.totals),
            "steps": [s.to_dict() for s in self.steps],
            "problems": list(self.problems),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        steps = data.get("steps")
        if steps is None:
            steps = data.get("slices") or ()
        return cls(
            run_id=str(_req(data, "run_id", "run")),
            herd=str(_req(data, "herd", "run")),
            pipeline=str(_req(data, "pipeline", "run")),
            outcome=_str(data, "outcome", "running"),
            started_at=_str(data, "started_at"),
            ended_at=_str(data, "ended_at"),
            revision=_str(data, "revision"),
            node=_str(data, "node"),
            totals=_counts(data.get("totals")),
            steps=tuple(StepRecord.from_dict(s) for s in steps),
            problems=tuple(str(p) for p in data.get("problems") or ()),
        )


# ------------------------------------------------------------------------ nodes


@dataclass(frozen=True)
class NodeRecord:
    """/nodes/<node>: written by the node's agent under a lease (gone when it lapses)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    cpu_millis: int = 0
    memory_bytes: int = 0
    agent_version: str = ""
    registered_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "labels": dict(self.labels),
            "cpu_millis": self.cpu_millis,
            "memory_bytes": self.memory_bytes,
            "agent_version": self.agent_version,
            "registered_at": self.registered_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeRecord:
        return cls(
            name=str(_req(data, "name", "node")),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            cpu_millis=_int(data, "cpu_millis"),
            memory_bytes=_int(data, "memory_bytes"),
            agent_version=_str(data, "agent_version"),
            registered_at=_str(data, "registered_at"),
        )


@dataclass(frozen=True)
class AssignmentRecord:
    """/assignments/<node>/<herd>/<pipeline>: the scheduler's placement of a pipeline."""

    node: str
    herd: str
    pipeline: str
    revision: str = ""
    plan_hash: str = ""
    slices: tuple[str, ...] = ()
    assigned_at: str = ""
    suspended: bool = False  # the herd is suspended: no new runs, no restarts

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "herd": self.herd,
            "pipeline": self.pipeline,
            "revision": self.revision,
            "plan_hash": self.plan_hash,
            "slices": list(self.slices),
            "assigned_at": self.assigned_at,
            "suspended": self.suspended,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssignmentRecord:
        return cls(
            node=str(_req(data, "node", "assignment")),
            herd=str(_req(data, "herd", "assignment")),
            pipeline=str(_req(data, "pipeline", "assignment")),
            revision=_str(data, "revision"),
            plan_hash=_str(data, "plan_hash"),
            slices=tuple(str(s) for s in data.get("slices") or ()),
            assigned_at=_str(data, "assigned_at"),
            suspended=bool(data.get("suspended", False)),
        )


@dataclass(frozen=True)
class SourceRecord:
    """/sources/<repo>: the source controller's last fetched and applied revisions."""

    repo: str
    fetched_revision: str = ""
    applied_revision: str = ""
    conditions: tuple[Condition, ...] = ()
    updated_at: str = ""
    applied_at: str = ""  # when a commit was last applied (ISO 8601)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "fetched_revision": self.fetched_revision,
            "applied_revision": self.applied_revision,
            "conditions": [c.to_dict() for c in self.conditions],
            "updatedAt": self.updated_at,
            "appliedAt": self.applied_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceRecord:
        return cls(
            repo=str(_req(data, "repo", "source")),
            fetched_revision=_str(data, "fetched_revision"),
            applied_revision=_str(data, "applied_revision"),
            conditions=tuple(Condition.from_dict(c) for c in data.get("conditions") or ()),
            updated_at=_str(data, "updatedAt"),
            applied_at=_str(data, "appliedAt"),
        )


# ------------------------------------------------------------------------ secrets


@dataclass(frozen=True)
class SecretRecord:
    """/secrets/<herd>/<name>: one sealed value (AES-256-GCM envelope; base64 fields).

    ``ciphertext`` is the value under a fresh data key; ``wrapped_key`` is that data key
    under the key-encryption key named by ``kek_id``. Plaintext is never stored.
    """

    herd: str
    name: str
    version: int
    kek_id: str
    nonce: str
    ciphertext: str
    key_nonce: str
    wrapped_key: str
    updated_at: str = ""
    updated_by: str = ""
    algorithm: str = "AES-256-GCM"

    def to_dict(self) -> dict[str, Any]:
        return {
            "herd": self.herd,
            "name": self.name,
            "version": self.version,
            "algorithm": self.algorithm,
            "kek_id": self.kek_id,
            "nonce": self.nonce,
            "ciphertext": self.ciphertext,
            "key_nonce": self.key_nonce,
            "wrapped_key": self.wrapped_key,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SecretRecord:
        return cls(
            herd=str(_req(data, "herd", "secret")),
            name=str(_req(data, "name", "secret")),
            version=_int(data, "version"),
            kek_id=str(_req(data, "kek_id", "secret")),
            nonce=str(_req(data, "nonce", "secret")),
            ciphertext=str(_req(data, "ciphertext", "secret")),
            key_nonce=str(_req(data, "key_nonce", "secret")),
            wrapped_key=str(_req(data, "wrapped_key", "secret")),
            updated_at=_str(data, "updated_at"),
            updated_by=_str(data, "updated_by"),
            algorithm=_str(data, "algorithm", "AES-256-GCM"),
        )


# ------------------------------------------------------------------------ lineage

PACKED_EVENTS: Final = "events_zlib"
_MAX_EVENTS: Final = 16 * 1024 * 1024  # inflated: a pending entry is no zip bomb


def pack_events(events_json: bytes) -> str:
    """A run's events (JSON) as they wait in ``/lineage/pending/<run_id>``: zlib, base64.

    About 7 times smaller than the JSON, and one object instead of hundreds: the Raft
    journal writes less, and the garbage collector, which walks every object the store
    holds, pauses the server's threads far less (bench/lineage.py).
    """
    return base64.b64encode(zlib.compress(events_json, 1)).decode("ascii")


def unpack_events(value: Mapping[str, Any]) -> object:
    """The events of a pending value: ``events_zlib`` (packed), else a plain ``events``.

    ValueError says what is wrong with a packed value.
    """
    packed = value.get(PACKED_EVENTS)
    if packed is None:
        return value.get("events")
    try:
        inflate = zlib.decompressobj()
        data = inflate.decompress(base64.b64decode(str(packed), validate=True), _MAX_EVENTS)
        if inflate.unconsumed_tail:
            raise ValueError(f"{PACKED_EVENTS} holds more than {_MAX_EVENTS} bytes of events")
        return orjson.loads(data)
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"{PACKED_EVENTS} is not compressed JSON: {exc}") from None
