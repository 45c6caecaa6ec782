"""Barn's state machine without any network: etcd semantics, history, leases, snapshots."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runink.barn.models import (
    CompactedError,
    Compare,
    CompareOp,
    CompareTarget,
    DeleteResult,
    EventType,
    FutureRevisionError,
    LeaseInfo,
    LeaseNotFoundError,
    Op,
    PutResult,
    TxnResult,
)
from runink.barn.state import BarnState


def put(state: BarnState, key: str, value: Any, lease: int = 0) -> PutResult:
    result, _ = state.apply({"op": "put", "key": key, "value": value, "lease": lease})
    assert isinstance(result, PutResult), result
    return result


def txn(state: BarnState, compares: list[Compare], then: list[Op], other: list[Op]) -> TxnResult:
    result, _ = state.apply(
        {
            "op": "txn",
            "compare": [c.to_dict() for c in compares],
            "success": [o.to_dict() for o in then],
            "failure": [o.to_dict() for o in other],
        }
    )
    assert isinstance(result, TxnResult), result
    return result


def test_revisions_versions_and_create_revision() -> None:
    s = BarnState()
    assert put(s, "/a", 1).revision == 1
    assert put(s, "/b", {"x": [1, 2]}).revision == 2
    r = put(s, "/a", 2)
    assert r.revision == 3 and r.prev_kv is not None and r.prev_kv.value == 1
    kv = s.get("/a")
    assert kv is not None
    assert (kv.create_revision, kv.mod_revision, kv.version, kv.value) == (1, 3, 2, 2)
    deleted, batch = s.apply({"op": "delete", "key": "/a"})
    assert isinstance(deleted, DeleteResult) and deleted.deleted == 1 and deleted.revision == 4
    assert batch is not None and batch.events[0].type is EventType.DELETE
    # deleting a missing key changes nothing and does not bump the revision
    again, batch = s.apply({"op": "delete", "key": "/a"})
    assert isinstance(again, DeleteResult) and again.deleted == 0 and again.revision == 4
    assert batch is None and s.revision == 4
    put(s, "/a", 3)
    kv = s.get("/a")
    assert kv is not None and (kv.create_revision, kv.version) == (5, 1)


def test_range_prefix_limit_and_order() -> None:
    s = BarnState()
    for key in ["/p/b", "/p/a", "/q", "/p/c", "/p"]:
        put(s, key, key)
    r = s.range("/p/")
    assert [kv.key for kv in r.kvs] == ["/p/a", "/p/b", "/p/c"]
    assert r.count == 3 and not r.more
    r = s.range("/p/", limit=2)
    assert [kv.key for kv in r.kvs] == ["/p/a", "/p/b"] and r.more and r.count == 3
    assert [kv.key for kv in s.range("").kvs] == ["/p", "/p/a", "/p/b", "/p/c", "/q"]
    assert [kv.key for kv in s.range("/p", prefix=False).kvs] == ["/p"]


def test_txn_compares_on_value_version_and_mod_revision() -> None:
    s = BarnState()
    put(s, "/k", "v1")
    ok = txn(s, [Compare.value_is("/k", "v1")], [Op.put("/k", "v2"), Op.range("/k")], [])
    assert ok.succeeded and ok.revision == 2
    failed = txn(s, [Compare.version_is("/k", 1)], [Op.put("/k", "no")], [Op.put("/x", 1)])
    assert not failed.succeeded and s.get("/k").value == "v2"  # type: ignore[union-attr]
    assert s.get("/x") is not None
    mod = s.get("/k").mod_revision  # type: ignore[union-attr]
    assert txn(s, [Compare.mod_revision_is("/k", mod)], [Op.delete("/k")], []).succeeded
    assert s.get("/k") is None
    # a missing key has version 0: create-if-absent
    assert txn(s, [Compare.missing("/k")], [Op.put("/k", 1)], []).succeeded
    assert not txn(s, [Compare.missing("/k")], [Op.put("/k", 2)], []).succeeded
    gt = Compare("/k", CompareTarget.CREATE_REVISION, CompareOp.GREATER, 0)
    assert txn(s, [gt], [], []).succeeded
    # ordering a value against a different type is simply false
    bad = Compare("/k", CompareTarget.VALUE, CompareOp.LESS, "text")
    assert not txn(s, [bad], [], []).succeeded


def test_txn_is_atomic_one_revision() -> None:
    s = BarnState()
    result, batch = s.apply(
        {
            "op": "txn",
            "compare": [],
            "success": [Op.put("/a", 1).to_dict(), Op.put("/b", 2).to_dict()],
            "failure": [],
        }
    )
    assert isinstance(result, TxnResult) and result.revision == 1
    assert batch is not None and len(batch.events) == 2
    assert {e.kv.mod_revision for e in batch.events} == {1}


def test_historical_range_and_compaction() -> None:
    s = BarnState(history_limit=5)
    for i in range(1, 9):
        put(s, f"/k/{i % 3}", i)
    assert s.revision == 8
    at6 = s.range("/k/", revision=6)
    assert {kv.key: kv.value for kv in at6.kvs} == {"/k/1": 4, "/k/2": 5, "/k/0": 6}
    assert s.compact_revision == 3
    with pytest.raises(CompactedError) as info:
        s.range("/k/", revision=2)
    assert info.value.compact_revision == 3
    with pytest.raises(FutureRevisionError):
        s.range("/k/", revision=9)
    with pytest.raises(CompactedError):
        s.events_since(3)
    assert [b.revision for b in s.events_since(4)] == [4, 5, 6, 7, 8]


def test_leases_attach_keepalive_expire_and_revoke() -> None:
    s = BarnState()
    lease, _ = s.apply({"op": "lease_grant", "ttl": 10})
    assert isinstance(lease, LeaseInfo) and lease.id == 1
    put(s, "/n/a", 1, lease=lease.id)
    put(s, "/n/b", 2, lease=lease.id)
    missing, _ = s.apply({"op": "put", "key": "/x", "value": 1, "lease": 99})
    assert isinstance(missing, LeaseNotFoundError) and s.get("/x") is None
    # an expiry decided before a keepalive was applied is ignored
    s.apply({"op": "lease_keepalive", "id": lease.id})
    _, batch = s.apply({"op": "lease_expire", "id": lease.id, "renewals": 0})
    assert batch is None and s.get("/n/a") is not None
    _, batch = s.apply({"op": "lease_expire", "id": lease.id, "renewals": 1})
    assert batch is not None and {e.kv.key for e in batch.events} == {"/n/a", "/n/b"}
    assert s.get("/n/a") is None and s.lease_ids() == {}
    gone, _ = s.apply({"op": "lease_keepalive", "id": lease.id})
    assert isinstance(gone, LeaseNotFoundError)
    other, _ = s.apply({"op": "lease_grant", "ttl": 5})
    assert isinstance(other, LeaseInfo)
    put(s, "/m", 1, lease=other.id)
    put(s, "/m", 2)  # re-put without the lease detaches the key
    s.apply({"op": "lease_revoke", "id": other.id})
    assert s.get("/m") is not None


def test_malformed_commands_return_errors_never_raise() -> None:
    s = BarnState()
    for command in [
        {"op": "nope"},
        {"op": "put"},
        {"op": "txn", "compare": [{"x": 1}]},
        {"op": "lease_grant", "ttl": 0},
        {"op": "lease_grant", "ttl": "x"},
    ]:
        result, batch = s.apply(command)
        assert batch is None and isinstance(result, Exception)
    assert s.revision == 0


def test_snapshot_roundtrip() -> None:
    s = BarnState(history_limit=3)
    lease, _ = s.apply({"op": "lease_grant", "ttl": 7})
    assert isinstance(lease, LeaseInfo)
    for i in range(6):
        put(s, f"/k{i}", {"i": i}, lease=lease.id if i % 2 else 0)
    copy = BarnState.from_snapshot(s.to_snapshot())
    assert copy.to_snapshot() == s.to_snapshot()
    assert copy.lease_keys(lease.id) == s.lease_keys(lease.id) == {"/k1", "/k3", "/k5"}
    assert copy.events_since(copy.compact_revision + 1) == s.events_since(s.compact_revision + 1)


# --------------------------------------------------------------------- hypothesis

KEYS = st.sampled_from(["/a", "/a/1", "/a/2", "/b", "/b/1"])
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.none())
OPS = st.one_of(
    st.builds(lambda k, v: Op.put(k, v), KEYS, VALUES),
    st.builds(lambda k, p: Op.delete(k, prefix=p), KEYS, st.booleans()),
)
COMPARES = st.builds(
    Compare,
    KEYS,
    st.sampled_from(list(CompareTarget)),
    st.sampled_from(list(CompareOp)),
    st.one_of(st.integers(0, 6), VALUES),
)
TXNS = st.tuples(
    st.lists(COMPARES, max_size=2), st.lists(OPS, max_size=3), st.lists(OPS, max_size=3)
)


def _model_compare(model: dict[str, tuple[Any, int, int, int]], c: Compare) -> bool:
    value, version, create, mod = model.get(c.key, (None, 0, 0, 0))
    actual = {
        CompareTarget.VALUE: value,
        CompareTarget.VERSION: version,
        CompareTarget.CREATE_REVISION: create,
        CompareTarget.MOD_REVISION: mod,
    }[c.target]
    try:
        return {
            CompareOp.EQUAL: lambda: actual == c.value,
            CompareOp.NOT_EQUAL: lambda: actual != c.value,
            CompareOp.LESS: lambda: actual < c.value,
            CompareOp.GREATER: lambda: actual > c.value,
        }[c.op]()
    except TypeError:
        return False


@settings(max_examples=150, deadline=None)
@given(st.lists(TXNS, max_size=25), st.integers(1, 30))
def test_txn_range_and_watch_match_a_simple_model(txns: list[Any], history_limit: int) -> None:
    """A naive model (dict + list of snapshots) agrees with BarnState on every txn,
    every historical range, and watch history replays to the current state."""
    s = BarnState(history_limit=history_limit)
    model: dict[str, tuple[Any, int, int, int]] = {}
    snapshots = {0: {}}
    revision = 0
    for compares, then, other in txns:
        result = txn(s, compares, then, other)
        succeeded = all(_model_compare(model, c) for c in compares)
        assert result.succeeded == succeeded
        ops = then if succeeded else other
        new_rev = revision + 1
        changed = False
        for op in ops:
            if op.kind.value == "put":
                _, version, create, _ = model.get(op.key, (None, 0, new_rev, 0))
                model[op.key] = (op.value, version + 1, create if version else new_rev, new_rev)
                changed = True
            else:
                doomed = [k for k in model if (k.startswith(op.key) if op.prefix else k == op.key)]
                for k in doomed:
                    del model[k]
                changed = changed or bool(doomed)
        if changed:
            revision = new_rev
            snapshots[revision] = {k: v[0] for k, v in model.items()}
        assert s.revision == revision
    assert {kv.key: kv.value for kv in s.range("").kvs} == {k: v[0] for k, v in model.items()}
    for rev, snap in snapshots.items():
        if rev == 0:
            continue  # revision 0 means "latest" in the API
        if rev < s.compact_revision:
            with pytest.raises(CompactedError):
                s.range("", revision=rev)
            continue
        assert {kv.key: kv.value for kv in s.range("", revision=rev).kvs} == snap
    # replaying the retained history on top of the oldest retained snapshot gives today
    base_rev = s.compact_revision
    replay = dict(snapshots[base_rev])
    batches = s.events_since(base_rev + 1)
    assert [b.revision for b in batches] == sorted(r for r in snapshots if r > base_rev)
    for batch in batches:
        for event in batch.events:
            if event.type is EventType.PUT:
                replay[event.kv.key] = event.kv.value
            else:
                replay.pop(event.kv.key, None)
    assert replay == {k: v[0] for k, v in model.items()}
