"""Barn's replicated state machine: etcd's key-value model, without any I/O.

Every member applies the same commands in the same (Raft log) order, so ``apply`` must
be deterministic: no clocks, no randomness, no environment. It never raises; a
command that cannot run returns a :class:`BarnError` value instead, because an
exception escaping pysyncobj's apply loop would make it retry the entry forever.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runink.barn.models import (
    BarnError,
    CompactedError,
    Compare,
    CompareOp,
    CompareTarget,
    DeleteResult,
    Event,
    EventType,
    FutureRevisionError,
    InvalidRequestError,
    KeyValue,
    LeaseInfo,
    LeaseNotFoundError,
    Op,
    OpKind,
    OpResponse,
    PutResult,
    RangeResult,
    TxnResult,
    WatchResponse,
)

#: Largest TTL a lease may ask for (a day); keeps the leader's expiry table sane.
MAX_LEASE_TTL = 86_400


@dataclass
class _Lease:
    ttl: int
    renewals: int = 0
    keys: set[str] = field(default_factory=set)


ApplyResult = TxnResult | PutResult | DeleteResult | LeaseInfo | int | None | BarnError


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class BarnState:
    """Keys, leases and a bounded history of changes, at one global revision."""

    def __init__(self, history_limit: int = 10_000) -> None:
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        self.history_limit = history_limit
        self.revision = 0
        #: Every revision <= compact_revision has left the history.
        self.compact_revision = 0
        self._kvs: dict[str, KeyValue] = {}
        self._keys: list[str] = []
        self._leases: dict[int, _Lease] = {}
        self._next_lease_id = 1
        self._history: deque[WatchResponse] = deque()

    # ----------------------------------------------------------------- reads

    def get(self, key: str) -> KeyValue | None:
        """The current value of one key."""
        return self._kvs.get(key)

    def _matching_keys(self, key: str, prefix: bool) -> list[str]:
        if not prefix:
            return [key] if key in self._kvs else []
        start = bisect.bisect_left(self._keys, key)
        end_key = _prefix_end(key)
        end = len(self._keys) if end_key is None else bisect.bisect_left(self._keys, end_key)
        return self._keys[start:end]

    def range(
        self, key: str, *, prefix: bool = True, limit: int = 0, revision: int = 0
    ) -> RangeResult:
        """Keys equal to (or starting with) ``key``, at ``revision`` (0: current).

        Raises :class:`CompactedError` when ``revision`` has left the history and
        :class:`FutureRevisionError` when it has not happened yet.
        """
        if revision <= 0 or revision == self.revision:
            kvs = [self._kvs[k] for k in self._matching_keys(key, prefix)]
        else:
            kvs = self._range_at(key, prefix, revision)
        count = len(kvs)
        more = False
        if limit > 0 and count > limit:
            kvs = kvs[:limit]
            more = True
        return RangeResult(tuple(kvs), count, more, self.revision)

    def _range_at(self, key: str, prefix: bool, revision: int) -> list[KeyValue]:
        if revision > self.revision:
            raise FutureRevisionError(
                f"revision {revision} is in the future (current {self.revision})"
            )
        if revision < self.compact_revision:
            raise CompactedError(revision, self.compact_revision)
        view = {k: self._kvs[k] for k in self._matching_keys(key, prefix)}

        def matches(k: str) -> bool:
            return k.startswith(key) if prefix else k == key

        # Undo every change newer than the asked revision, newest first.
        for batch in reversed(self._history):
            if batch.revision <= revision:
                break
            for event in reversed(batch.events):
                k = event.kv.key
                if not matches(k):
                    continue
                if event.prev_kv is None:
                    view.pop(k, None)
                else:
                    view[k] = event.prev_kv
        return [view[k] for k in sorted(view)]

    def events_since(
        self, from_revision: int, key: str = "", prefix: bool = True
    ) -> list[WatchResponse]:
        """Retained changes at ``from_revision`` or later that touch the watched keys."""
        if from_revision <= self.compact_revision and from_revision <= self.revision:
            raise CompactedError(from_revision, self.compact_revision)
        out = []
        for batch in self._history:
            if batch.revision < from_revision:
                continue
            selected = filter_events(batch, key, prefix)
            if selected is not None:
                out.append(selected)
        return out

    def lease_ids(self) -> dict[int, tuple[int, int]]:
        """Every live lease: id -> (ttl, renewals)."""
        return {lid: (lease.ttl, lease.renewals) for lid, lease in self._leases.items()}

    def lease_keys(self, lease_id: int) -> frozenset[str]:
        lease = self._leases.get(lease_id)
        return frozenset() if lease is None else frozenset(lease.keys)

    def __len__(self) -> int:
        return len(self._kvs)

    # ----------------------------------------------------------------- writes

    def apply(self, command: dict[str, Any]) -> tuple[ApplyResult, WatchResponse | None]:
        """Apply one decoded command; return its result and the changes it made."""
        try:
            return self._apply(command)
        except BarnError as exc:
            return exc, None
        except (KeyError, TypeError, ValueError) as exc:
            return InvalidRequestError(f"malformed command: {exc}"), None

    def _apply(self, command: dict[str, Any]) -> tuple[ApplyResult, WatchResponse | None]:
        op = command["op"]
        if op == "txn":
            compares = [Compare.from_dict(c) for c in command.get("compare", [])]
            success = [Op.from_dict(o) for o in command.get("success", [])]
            failure = [Op.from_dict(o) for o in command.get("failure", [])]
            return self._txn(compares, success, failure)
        if op == "put":
            # The hot path: same semantics as a one-op txn, without building one.
            key = command["key"]
            lease_ref = int(command.get("lease", 0))
            if not isinstance(key, str) or not key:
                return InvalidRequestError("an operation needs a non-empty key"), None
            if lease_ref and lease_ref not in self._leases:
                return LeaseNotFoundError(f"lease {lease_ref} not found"), None
            revision = self.revision + 1
            event = self._put_key(key, command.get("value"), lease_ref, revision)
            return PutResult(revision, event.prev_kv), self._commit(revision, [event])
        if op == "delete":
            result, batch = self._txn(
                [], [Op.delete(command["key"], bool(command.get("prefix", False)))], []
            )
            if not isinstance(result, TxnResult):
                return result, batch
            response = result.responses[0]
            assert isinstance(response, DeleteResult)
            return response, batch
        if op == "lease_grant":
            ttl = int(command["ttl"])
            if not 1 <= ttl <= MAX_LEASE_TTL:
                return InvalidRequestError(f"lease ttl must be 1..{MAX_LEASE_TTL}"), None
            lease_id = self._next_lease_id
            self._next_lease_id += 1
            self._leases[lease_id] = _Lease(ttl)
            return LeaseInfo(lease_id, ttl), None
        if op == "lease_keepalive":
            lease_id = int(command["id"])
            lease = self._leases.get(lease_id)
            if lease is None:
                return LeaseNotFoundError(f"lease {lease_id} not found"), None
            lease.renewals += 1
            return LeaseInfo(lease_id, lease.ttl), None
        if op == "lease_revoke":
            lease_id = int(command["id"])
            if lease_id not in self._leases:
                return LeaseNotFoundError(f"lease {lease_id} not found"), None
            return self._drop_lease(lease_id)
        if op == "lease_expire":
            # The leader decided the lease ran out; if a keepalive was applied after
            # that decision (renewals moved on), the lease lives on.
            lease_id = int(command["id"])
            lease = self._leases.get(lease_id)
            if lease is None or lease.renewals != int(command["renewals"]):
                return None, None
            return self._drop_lease(lease_id)
        if op == "barrier":
            return self.revision, None
        return InvalidRequestError(f"unknown command {op!r}"), None

    def _drop_lease(self, lease_id: int) -> tuple[ApplyResult, WatchResponse | None]:
        lease = self._leases.pop(lease_id)
        if not lease.keys:
            return self.revision, None
        revision = self.revision + 1
        events = [self._delete_key(k, revision) for k in sorted(lease.keys)]
        batch = self._commit(revision, events)
        return revision, batch

    def _compare(self, cmp: Compare) -> bool:
        kv = self._kvs.get(cmp.key)
        actual: Any
        if cmp.target is CompareTarget.VALUE:
            actual = None if kv is None else kv.value
        elif cmp.target is CompareTarget.VERSION:
            actual = 0 if kv is None else kv.version
        elif cmp.target is CompareTarget.MOD_REVISION:
            actual = 0 if kv is None else kv.mod_revision
        else:
            actual = 0 if kv is None else kv.create_revision
        if cmp.op is CompareOp.EQUAL:
            return bool(actual == cmp.value)
        if cmp.op is CompareOp.NOT_EQUAL:
            return bool(actual != cmp.value)
        try:
            if cmp.op is CompareOp.LESS:
                return bool(actual < cmp.value)
            return bool(actual > cmp.value)
        except TypeError:
            # Ordering a missing value or mismatched types is simply false, as a
            # failed comparison, rather than an error that aborts the transaction.
            return False

    def _txn(
        self, compares: list[Compare], success: list[Op], failure: list[Op]
    ) -> tuple[ApplyResult, WatchResponse | None]:
        succeeded = all(self._compare(c) for c in compares)
        ops = success if succeeded else failure
        for op in ops:
            if op.kind is OpKind.PUT and op.lease and op.lease not in self._leases:
                return LeaseNotFoundError(f"lease {op.lease} not found"), None
            if not isinstance(op.key, str) or (not op.key and not op.prefix):
                return InvalidRequestError("an operation needs a non-empty key"), None
        revision = self.revision + 1
        events: list[Event] = []
        responses: list[OpResponse] = []
        for op in ops:
            if op.kind is OpKind.PUT:
                prev = self._kvs.get(op.key)
                events.append(self._put_key(op.key, op.value, op.lease, revision))
                responses.append(PutResult(revision, prev))
            elif op.kind is OpKind.DELETE:
                keys = self._matching_keys(op.key, op.prefix)
                prevs = tuple(self._kvs[k] for k in keys)
                events.extend(self._delete_key(k, revision) for k in keys)
                responses.append(
                    DeleteResult(revision if keys else self.revision, len(keys), prevs)
                )
            else:
                kvs = [self._kvs[k] for k in self._matching_keys(op.key, op.prefix)]
                count = len(kvs)
                more = bool(op.limit and count > op.limit)
                if more:
                    kvs = kvs[: op.limit]
                responses.append(RangeResult(tuple(kvs), count, more, self.revision))
        batch = self._commit(revision, events) if events else None
        if batch is None:
            # Nothing changed: results must not claim a revision that never happened.
            responses = [
                DeleteResult(self.revision, r.deleted, r.prev_kvs)
                if isinstance(r, DeleteResult)
                else r
                for r in responses
            ]
        return TxnResult(succeeded, self.revision, tuple(responses)), batch

    def _put_key(self, key: str, value: Any, lease: int, revision: int) -> Event:
        prev = self._kvs.get(key)
        if prev is None:
            kv = KeyValue(key, value, revision, revision, 1, lease)
            bisect.insort(self._keys, key)
        else:
            kv = KeyValue(key, value, prev.create_revision, revision, prev.version + 1, lease)
            if prev.lease and prev.lease != lease and prev.lease in self._leases:
                self._leases[prev.lease].keys.discard(key)
        if lease:
            self._leases[lease].keys.add(key)
        self._kvs[key] = kv
        return Event(EventType.PUT, kv, prev)

    def _delete_key(self, key: str, revision: int) -> Event:
        prev = self._kvs.pop(key)
        index = bisect.bisect_left(self._keys, key)
        del self._keys[index]
        if prev.lease and prev.lease in self._leases:
            self._leases[prev.lease].keys.discard(key)
        return Event(EventType.DELETE, KeyValue(key, None, 0, revision, 0, 0), prev)

    def _commit(self, revision: int, events: list[Event]) -> WatchResponse:
        self.revision = revision
        batch = WatchResponse(revision, tuple(events))
        self._history.append(batch)
        while len(self._history) > self.history_limit:
            dropped = self._history.popleft()
            self.compact_revision = dropped.revision
        return batch

    # -------------------------------------------------------------- snapshots

    def to_snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (for pysyncobj's full dump)."""
        return {
            "format": 1,
            "revision": self.revision,
            "compact_revision": self.compact_revision,
            "history_limit": self.history_limit,
            "next_lease_id": self._next_lease_id,
            "kvs": [self._kvs[k].to_dict() for k in self._keys],
            "leases": [
                {"id": lid, "ttl": lease.ttl, "renewals": lease.renewals}
                for lid, lease in sorted(self._leases.items())
            ],
            "history": [batch.to_dict() for batch in self._history],
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], history_limit: int | None = None) -> BarnState:
        """Rebuild a state from :meth:`to_snapshot` output."""
        if data.get("format") != 1:
            raise ValueError(f"unknown snapshot format {data.get('format')!r}")
        state = cls(history_limit or int(data["history_limit"]))
        state.revision = int(data["revision"])
        state.compact_revision = int(data["compact_revision"])
        state._next_lease_id = int(data["next_lease_id"])
        for item in data["leases"]:
            state._leases[int(item["id"])] = _Lease(int(item["ttl"]), int(item["renewals"]))
        for item in data["kvs"]:
            kv = KeyValue.from_dict(item)
            state._kvs[kv.key] = kv
            if kv.lease and kv.lease in state._leases:
                state._leases[kv.lease].keys.add(kv.key)
        state._keys = sorted(state._kvs)
        state._history = deque(WatchResponse.from_dict(b) for b in data["history"])
        while len(state._history) > state.history_limit:
            state.compact_revision = state._history.popleft().revision
        return state


def filter_events(batch: WatchResponse, key: str, prefix: bool) -> WatchResponse | None:
    """The part of one revision's changes a watch on ``key`` (or prefix) should see."""
    if prefix and not key:
        return batch
    selected = tuple(
        e for e in batch.events if (e.kv.key.startswith(key) if prefix else e.kv.key == key)
    )
    if not selected:
        return None
    return WatchResponse(batch.revision, selected)


def validate_ops(ops: Iterable[Op]) -> None:
    """Reject operations that cannot be encoded or applied (raises InvalidRequestError)."""
    for op in ops:
        if not isinstance(op, Op):
            raise InvalidRequestError(f"not an Op: {op!r}")
        if not op.key and not (op.prefix and op.kind is not OpKind.PUT):
            raise InvalidRequestError("an operation needs a non-empty key")
