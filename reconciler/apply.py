"""The apply controller: a repository's Desired state -> Barn, in one transaction.

Only what changed is written: a herd whose spec changed, a pipeline whose Plan hash
changed (each stored Plan keeps the revision it last changed at), and deletes for the
pipelines and herds that left the repository (prune). The transaction also moves the
source's ``applied_revision`` and sets ``Ready=True``; it is conditional on the source
record being what this pass read, so two passes never interleave. A push that changes
one feature writes one key plus the source record, however large the repository.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any

from reconciler.controller import ReconcileError, Result
from reconciler.source import (
    Desired,
    DesiredStates,
    SourceSpec,
    condition,
    read_source,
    ready_condition,
)
from runink.api.keys import HERDS_PREFIX, herd_key, pipeline_key, source_key
from runink.api.records import SourceRecord, herd_to_dict, now_iso
from runink.barn import BarnClient, Compare, CompareOp, CompareTarget, Op

# Barn's peer frames are 16 MiB: a first apply of a very large repository is written in
# several transactions, the source record moving only with the last.
MAX_TXN_BYTES = 8 * 1024 * 1024


class ApplyController:
    """Writes each repository's latest valid commit into Barn."""

    name = "apply"

    def __init__(
        self,
        barn: BarnClient,
        specs: Iterable[SourceSpec],
        desired: DesiredStates,
        full_every: float = 300.0,
    ) -> None:
        """``full_every``: seconds after which Barn's stored Plans are read and compared
        in full again, whatever the stamp says (drift from outside is undone by then)."""
        self.barn = barn
        self.repos = [s.name for s in specs]
        self.desired = desired
        # repo -> (the applied stamp our last write left on its source record, the
        # Desired it wrote, when Barn was last compared in full). While the record still
        # carries our stamp, no other server applied since: Barn holds that Desired's
        # Plans and the next push's changes are found by comparing two Desireds.
        self._written: dict[str, tuple[tuple[str, str], Desired, float]] = {}
        self.full_every = full_every

    def keys(self) -> Iterable[str]:
        return list(self.repos)

    def reconcile(self, key: str) -> Result:
        desired = self.desired.get(key)
        if desired is None:  # nothing valid fetched yet
            return Result()
        record, mod = read_source(self.barn, key)
        written = self._written.get(key)
        stamp = (record.applied_revision, record.applied_at)
        full_at = time.monotonic()
        if written is not None and written[0] == stamp and full_at - written[2] < self.full_every:
            ops, changed, pruned = self._changes_since(key, written[1], desired)
            full_at = written[2]
        else:
            ops, changed, pruned = self._changes(key, desired)
        ready = ready_condition(record)
        # A newer commit that failed validation keeps its condition: the last good
        # revision is applied, and the source still says why the newest is not.
        newer_failed = record.fetched_revision not in ("", desired.revision)
        applied = not ops and record.applied_revision == desired.revision
        if applied and ready is not None and (ready.status == "True" or newer_failed):
            return Result()
        message = f"applied {desired.revision}: {changed} changed, {pruned} pruned"
        if newer_failed and ready is not None:
            conditions = record.conditions
        else:
            done = condition("Ready", "True", "ApplySucceeded", message, desired.revision, ready)
            conditions = (done, *(c for c in record.conditions if c.type != "Ready"))
        updated = SourceRecord(
            repo=key,
            fetched_revision=record.fetched_revision or desired.revision,
            applied_revision=desired.revision,
            conditions=conditions,
            updated_at=now_iso(),
            applied_at=now_iso(),
        )
        for chunk in _chunks(ops)[:-1]:
            self.barn.txn([], chunk)
        final = [*(_chunks(ops)[-1] if ops else []), Op.put(source_key(key), updated.to_dict())]
        result = self.barn.txn(
            [Compare(source_key(key), CompareTarget.MOD_REVISION, CompareOp.EQUAL, mod)], final
        )
        if not result.succeeded:  # the source record moved meanwhile: read again
            self._written.pop(key, None)
            return Result(error=ReconcileError("Conflict", "source record changed; retrying"))
        self._written[key] = ((updated.applied_revision, updated.applied_at), desired, full_at)
        return Result()

    def _changes_since(
        self, repo: str, before: Desired, desired: Desired
    ) -> tuple[list[Op], int, int]:
        """The ops that turn ``before`` (what Barn holds) into ``desired``.

        The compiler says what changed when ``desired`` was compiled right after
        ``before``; otherwise, as it hands back the very Plan objects it reused, what
        changed is found by identity, in C-speed set operations, not by reading every
        stored Plan.
        """
        ops: list[Op] = []
        changed = pruned = 0
        herds_now = {herd_key(h.name): h for h in before.herds}
        wanted_herds = set()
        for herd in desired.herds:
            key = herd_key(herd.name)
            wanted_herds.add(key)
            known = herds_now.get(key)
            if known is None or herd_to_dict(known) != herd_to_dict(herd):
                value = {**herd_to_dict(herd), "revision": desired.revision, "source": repo}
                ops.append(Op.put(key, value))
                changed += 1
        delta = desired.delta
        if delta is not None and delta.base == before.sha:  # the compiler said what changed
            added, gone = list(delta.added), list(delta.removed)
        else:
            was = dict(zip(map(id, before.plans), before.plans, strict=True))
            now = dict(zip(map(id, desired.plans), desired.plans, strict=True))
            gone = [was[i] for i in was.keys() - now.keys()]
            added = sorted((now[i] for i in now.keys() - was.keys()), key=_by_pipeline)
        old = {pipeline_key(p.herd, p.pipeline): p for p in gone}
        for plan in added:
            key = pipeline_key(plan.herd, plan.pipeline)
            previous = old.pop(key, None)
            if previous is None or previous.hash != plan.hash:
                ops.append(Op.put(key, {**plan.to_dict(), "source": repo}))
                changed += 1
        for key in old:
            ops.append(Op.delete(key))
            pruned += 1
        for key in herds_now.keys() - wanted_herds:
            ops.append(Op.delete(key))
            pruned += 1
        return ops, changed, pruned

    def _changes(self, repo: str, desired: Desired) -> tuple[list[Op], int, int]:
        ops: list[Op] = []
        changed = pruned = 0
        herds_now = _values(self.barn.range(HERDS_PREFIX).kvs)
        wanted_herds: dict[str, dict[str, Any]] = {}
        for herd in desired.herds:
            value = {**herd_to_dict(herd), "revision": desired.revision, "source": repo}
            wanted_herds[herd_key(herd.name)] = value
            current = herds_now.get(herd_key(herd.name))
            if current is None or _without_revision(current) != _without_revision(value):
                ops.append(Op.put(herd_key(herd.name), value))
                changed += 1
        pipelines_now = _values(self.barn.range("/pipelines/").kvs)
        wanted: set[str] = set()
        for plan in desired.plans:
            key = pipeline_key(plan.herd, plan.pipeline)
            wanted.add(key)
            current = pipelines_now.get(key)
            if current is None or current.get("hash") != plan.hash:
                ops.append(Op.put(key, {**plan.to_dict(), "source": repo}))
                changed += 1
        for key, stored in pipelines_now.items():
            if stored.get("source") == repo and key not in wanted:
                ops.append(Op.delete(key))
                pruned += 1
        for key, stored in herds_now.items():
            if stored.get("source") == repo and key not in wanted_herds:
                ops.append(Op.delete(key))
                pruned += 1
        return ops, changed, pruned


_by_pipeline = attrgetter("pipeline")


def _values(kvs: Iterable[Any]) -> dict[str, Mapping[str, Any]]:
    return {kv.key: kv.value for kv in kvs if isinstance(kv.value, Mapping)}


def _without_revision(value: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "revision"}


def _chunks(ops: list[Op]) -> list[list[Op]]:
    """``ops`` in transactions of at most MAX_TXN_BYTES of values (at least one op each)."""
    import orjson

    chunks: list[list[Op]] = [[]]
    size = 0
    for op in ops:
        weight = len(orjson.dumps(op.value)) + len(op.key) + 64
        if chunks[-1] and size + weight > MAX_TXN_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(op)
        size += weight
    return chunks
