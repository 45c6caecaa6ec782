"""Barn's data model: etcd-style key-values, events, compares, operations and results.

Every model is a frozen dataclass with a ``to_dict``/``from_dict`` pair, so the same
values travel through the Raft log, the snapshot file and the client request port as
JSON (orjson) and never as pickles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: A JSON value (what ``orjson`` can encode): dict, list, str, int, float, bool or None.
JSONValue = Any


class BarnError(Exception):
    """Base of every error Barn reports to a caller."""

    code = "barn_error"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self)}


class CompactedError(BarnError):
    """The requested revision is older than the retained history."""

    code = "compacted"

    def __init__(self, requested: int, compact_revision: int) -> None:
        self.requested = requested
        self.compact_revision = compact_revision
        super().__init__(
            f"revision {requested} is compacted; the oldest available revision is "
            f"{compact_revision + 1}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": str(self),
            "requested": self.requested,
            "compact_revision": self.compact_revision,
        }


class FutureRevisionError(BarnError):
    """The requested revision has not happened yet."""

    code = "future_revision"


class LeaseNotFoundError(BarnError):
    """The lease does not exist (never granted, revoked or expired)."""

    code = "lease_not_found"


class InvalidRequestError(BarnError):
    """The request is malformed (wrong fields, types or sizes)."""

    code = "invalid_request"


class UnavailableError(BarnError):
    """No quorum or no leader answered in time; the outcome of a write is unknown."""

    code = "unavailable"


class AuthenticationError(BarnError):
    """The peer does not hold the cluster secret."""

    code = "unauthenticated"


_ERRORS: dict[str, type[BarnError]] = {
    cls.code: cls
    for cls in (
        BarnError,
        FutureRevisionError,
        LeaseNotFoundError,
        InvalidRequestError,
        UnavailableError,
        AuthenticationError,
    )
}


def error_from_dict(data: dict[str, Any]) -> BarnError:
    """Rebuild the exception a member reported (inverse of ``BarnError.to_dict``)."""
    code = str(data.get("code", "barn_error"))
    message = str(data.get("message", ""))
    if code == CompactedError.code:
        return CompactedError(int(data.get("requested", 0)), int(data.get("compact_revision", 0)))
    return _ERRORS.get(code, BarnError)(message)


@dataclass(frozen=True)
class KeyValue:
    """One key at one revision. ``version`` counts puts since creation (1 after create)."""

    key: str
    value: JSONValue
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "create_revision": self.create_revision,
            "mod_revision": self.mod_revision,
            "version": self.version,
            "lease": self.lease,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyValue:
        return cls(
            key=str(data["key"]),
            value=data.get("value"),
            create_revision=int(data["create_revision"]),
            mod_revision=int(data["mod_revision"]),
            version=int(data["version"]),
            lease=int(data.get("lease", 0)),
        )


class EventType(StrEnum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True)
class Event:
    """A change of one key. For a delete, ``kv`` holds the key and the deleting revision."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "kv": self.kv.to_dict(),
            "prev_kv": None if self.prev_kv is None else self.prev_kv.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        prev = data.get("prev_kv")
        return cls(
            type=EventType(data["type"]),
            kv=KeyValue.from_dict(data["kv"]),
            prev_kv=None if prev is None else KeyValue.from_dict(prev),
        )


class CompareTarget(StrEnum):
    VALUE = "value"
    VERSION = "version"
    MOD_REVISION = "mod_revision"
    CREATE_REVISION = "create_revision"


class CompareOp(StrEnum):
    EQUAL = "=="
    NOT_EQUAL = "!="
    LESS = "<"
    GREATER = ">"


@dataclass(frozen=True)
class Compare:
    """A condition of a transaction on one key.

    A missing key has version, mod_revision and create_revision 0 and value None, as in
    etcd, so ``Compare(key, "version", "==", 0)`` means "the key does not exist".
    """

    key: str
    target: CompareTarget
    op: CompareOp
    value: JSONValue

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "target": self.target.value,
            "op": self.op.value,
            "value": self.value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Compare:
        return cls(
            key=str(data["key"]),
            target=CompareTarget(data["target"]),
            op=CompareOp(data["op"]),
            value=data.get("value"),
        )

    @classmethod
    def value_is(cls, key: str, value: JSONValue) -> Compare:
        return cls(key, CompareTarget.VALUE, CompareOp.EQUAL, value)

    @classmethod
    def version_is(cls, key: str, version: int) -> Compare:
        return cls(key, CompareTarget.VERSION, CompareOp.EQUAL, version)

    @classmethod
    def mod_revision_is(cls, key: str, revision: int) -> Compare:
        return cls(key, CompareTarget.MOD_REVISION, CompareOp.EQUAL, revision)

    @classmethod
    def missing(cls, key: str) -> Compare:
        return cls(key, CompareTarget.VERSION, CompareOp.EQUAL, 0)


class OpKind(StrEnum):
    PUT = "put"
    DELETE = "delete"
    RANGE = "range"


@dataclass(frozen=True)
class Op:
    """One operation of a transaction branch."""

    kind: OpKind
    key: str
    value: JSONValue = None
    lease: int = 0
    prefix: bool = False
    limit: int = 0

    @classmethod
    def put(cls, key: str, value: JSONValue, lease: int = 0) -> Op:
        return cls(OpKind.PUT, key, value=value, lease=lease)

    @classmethod
    def delete(cls, key: str, prefix: bool = False) -> Op:
        return cls(OpKind.DELETE, key, prefix=prefix)

    @classmethod
    def range(cls, key: str, prefix: bool = True, limit: int = 0) -> Op:
        return cls(OpKind.RANGE, key, prefix=prefix, limit=limit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "key": self.key,
            "value": self.value,
            "lease": self.lease,
            "prefix": self.prefix,
            "limit": self.limit,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Op:
        return cls(
            kind=OpKind(data["kind"]),
            key=str(data["key"]),
            value=data.get("value"),
            lease=int(data.get("lease", 0)),
            prefix=bool(data.get("prefix", False)),
            limit=int(data.get("limit", 0)),
        )


@dataclass(frozen=True)
class RangeResult:
    """Keys in order, ``count`` of all matches, ``more`` if ``limit`` cut the list."""

    kvs: tuple[KeyValue, ...]
    count: int
    more: bool
    revision: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "kvs": [kv.to_dict() for kv in self.kvs],
            "count": self.count,
            "more": self.more,
            "revision": self.revision,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RangeResult:
        return cls(
            kvs=tuple(KeyValue.from_dict(kv) for kv in data["kvs"]),
            count=int(data["count"]),
            more=bool(data["more"]),
            revision=int(data["revision"]),
        )


@dataclass(frozen=True)
class PutResult:
    revision: int
    prev_kv: KeyValue | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "prev_kv": None if self.prev_kv is None else self.prev_kv.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PutResult:
        prev = data.get("prev_kv")
        return cls(int(data["revision"]), None if prev is None else KeyValue.from_dict(prev))


@dataclass(frozen=True)
class DeleteResult:
    revision: int
    deleted: int
    prev_kvs: tuple[KeyValue, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "deleted": self.deleted,
            "prev_kvs": [kv.to_dict() for kv in self.prev_kvs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeleteResult:
        return cls(
            int(data["revision"]),
            int(data["deleted"]),
            tuple(KeyValue.from_dict(kv) for kv in data.get("prev_kvs", [])),
        )


OpResponse = PutResult | DeleteResult | RangeResult


def _response_to_dict(response: OpResponse) -> dict[str, Any]:
    kind = {PutResult: "put", DeleteResult: "delete", RangeResult: "range"}[type(response)]
    return {"kind": kind, **response.to_dict()}


def _response_from_dict(data: dict[str, Any]) -> OpResponse:
    kind = data["kind"]
    if kind == "put":
        return PutResult.from_dict(data)
    if kind == "delete":
        return DeleteResult.from_dict(data)
    return RangeResult.from_dict(data)


@dataclass(frozen=True)
class TxnResult:
    """Which branch ran, the store revision after it, and one response per op."""

    succeeded: bool
    revision: int
    responses: tuple[OpResponse, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "succeeded": self.succeeded,
            "revision": self.revision,
            "responses": [_response_to_dict(r) for r in self.responses],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TxnResult:
        return cls(
            succeeded=bool(data["succeeded"]),
            revision=int(data["revision"]),
            responses=tuple(_response_from_dict(r) for r in data.get("responses", [])),
        )


@dataclass(frozen=True)
class LeaseInfo:
    """A granted lease: its id and time-to-live in seconds."""

    id: int
    ttl: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ttl": self.ttl}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeaseInfo:
        return cls(int(data["id"]), int(data["ttl"]))


@dataclass(frozen=True)
class WatchResponse:
    """All events of one revision (a transaction's changes arrive together)."""

    revision: int
    events: tuple[Event, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "events": [e.to_dict() for e in self.events]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchResponse:
        return cls(int(data["revision"]), tuple(Event.from_dict(e) for e in data["events"]))


@dataclass(frozen=True)
class PeerStatus:
    """What this member knows of another member."""

    name: str
    address: str
    connected: bool
    match_index: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "connected": self.connected,
            "match_index": self.match_index,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PeerStatus:
        match = data.get("match_index")
        return cls(
            str(data["name"]),
            str(data["address"]),
            bool(data["connected"]),
            None if match is None else int(match),
        )


@dataclass(frozen=True)
class Status:
    """A member's view of the cluster. ``lag`` is commit index minus last applied."""

    name: str
    address: str
    is_leader: bool
    leader: str | None
    term: int
    commit_index: int
    last_applied: int
    revision: int
    compact_revision: int
    has_quorum: bool
    peers: tuple[PeerStatus, ...]

    @property
    def lag(self) -> int:
        return max(0, self.commit_index - self.last_applied)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "is_leader": self.is_leader,
            "leader": self.leader,
            "term": self.term,
            "commit_index": self.commit_index,
            "last_applied": self.last_applied,
            "lag": self.lag,
            "revision": self.revision,
            "compact_revision": self.compact_revision,
            "has_quorum": self.has_quorum,
            "peers": [p.to_dict() for p in self.peers],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Status:
        leader = data.get("leader")
        return cls(
            name=str(data["name"]),
            address=str(data["address"]),
            is_leader=bool(data["is_leader"]),
            leader=None if leader is None else str(leader),
            term=int(data["term"]),
            commit_index=int(data["commit_index"]),
            last_applied=int(data["last_applied"]),
            revision=int(data["revision"]),
            compact_revision=int(data["compact_revision"]),
            has_quorum=bool(data["has_quorum"]),
            peers=tuple(PeerStatus.from_dict(p) for p in data.get("peers", [])),
        )
