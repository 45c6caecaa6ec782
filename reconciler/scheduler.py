"""The scheduler: places each pipeline on one live node.

A pipeline (all its slices: they are joined by pipes, so they share a host) goes to a
node whose labels include the herd's ``placement`` and the pipeline's affinity and
whose capacity can hold one of its slices, and only while the herd's quota admits it:
its slice count within ``quota.slices`` with the herd's other placed pipelines, and no
slice asking for more than the whole herd may use. CPU and memory are limits enforced
at run time by the herd's cgroup (DESIGN §5), not reservations: a batch pipeline that
is not running holds nothing. A placement
sticks while its node lives and still fits; when the node's lease expires (its
/nodes key is gone) the pipeline is placed again. A pipeline that fits nowhere
keeps no assignment and its status says ``Pending`` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.controller import ReconcileError, Result
from reconciler.source import condition
from runink.api.keys import (
    ASSIGNMENTS_PREFIX,
    NODES_PREFIX,
    assignment_key,
    herd_key,
    pipeline_key,
    status_key,
)
from runink.api.records import (
    AssignmentRecord,
    NodeRecord,
    StatusRecord,
    herd_from_dict,
    now_iso,
)
from runink.barn import BarnClient, Compare, CompareOp, CompareTarget, Op
from runink.compiler import Plan
from runink.compiler.plan import plan_from_dict


@dataclass(frozen=True)
class Demand:
    """What a pipeline asks: per slice CPU and memory, and its number of slices."""

    cpu_millis: int
    memory_bytes: int
    slices: int

    @classmethod
    def of(cls, plan: Plan) -> Demand:
        return cls(plan.resources.cpu_millis, plan.resources.memory_bytes, len(plan.nodes))


class Scheduler:
    """Places pipelines (keys: pipeline ids ``<herd>/<feature>/<scenario>``)."""

    name = "scheduler"

    def __init__(self, barn: BarnClient) -> None:
        self.barn = barn

    def keys(self) -> Iterable[str]:
        ids = {_pipeline_id(kv.value) for kv in self.barn.range("/pipelines/").kvs}
        placed = {
            kv.key.removeprefix(ASSIGNMENTS_PREFIX).split("/", 1)[1]
            for kv in self.barn.range(ASSIGNMENTS_PREFIX).kvs
        }
        return sorted(i for i in ids | placed if i)

    def reconcile(self, key: str) -> Result:
        herd_name = key.split("/", 1)[0]
        assignments = self._assignments()
        mine = [a for a in assignments if _id(a) == key]
        kv = self.barn.get(pipeline_key(herd_name, key))
        if kv is None or not isinstance(kv.value, Mapping):  # pruned: unplace it
            for a in mine:
                self.barn.delete(assignment_key(a.node, a.herd, a.pipeline))
            return Result()
        plan = plan_from_dict(kv.value)
        herd_kv = self.barn.get(herd_key(herd_name))
        herd = herd_from_dict(herd_kv.value) if herd_kv is not None else None
        nodes = {
            n.name: n
            for n in (NodeRecord.from_dict(kv.value) for kv in self.barn.range(NODES_PREFIX).kvs)
        }
        wanted_labels = {**(herd.placement if herd else {}), **plan.affinity}
        demand = Demand.of(plan)
        plans = self._plans()
        others = [a for a in assignments if _id(a) != key]

        def load(node: str) -> int:
            return _slices(plans.get(_id(a)) for a in others if a.node == node)

        herd_used = _slices(plans.get(_id(a)) for a in others if a.herd == herd_name)
        quota_problem = _quota_problem(herd, herd_used, demand) if herd else None

        def fits(node: NodeRecord) -> bool:
            if any(node.labels.get(k) != v for k, v in wanted_labels.items()):
                return False
            return (not node.cpu_millis or demand.cpu_millis <= node.cpu_millis) and (
                not node.memory_bytes or demand.memory_bytes <= node.memory_bytes
            )

        current = next((a for a in mine if a.node in nodes and fits(nodes[a.node])), None)
        if current is None and quota_problem is None:
            candidates = sorted(
                (n for n in nodes.values() if fits(n)),
                key=lambda n: (load(n.name), n.name),  # the least busy node
            )
            target = candidates[0].name if candidates else None
        else:
            target = current.node if current is not None else None
        ops: list[Op] = [
            Op.delete(assignment_key(a.node, a.herd, a.pipeline)) for a in mine if a.node != target
        ]
        if target is None:
            reason = quota_problem or _why_nowhere(nodes, wanted_labels, demand)
            if ops:
                self.barn.txn([], ops)
            self._scheduled(key, False, "Unschedulable", reason, plan.revision or "")
            return Result(
                requeue_after=10.0, error=ReconcileError("Unschedulable", reason, retry=False)
            )
        record = AssignmentRecord(
            node=target,
            herd=herd_name,
            pipeline=plan.pipeline,
            revision=plan.revision or "",
            plan_hash=plan.hash,
            slices=tuple(n.id for n in plan.nodes),
            assigned_at=current.assigned_at if current is not None else now_iso(),
            suspended=bool(herd and herd.suspend),
        )
        if current is None or current.to_dict() != record.to_dict():
            ops.append(Op.put(assignment_key(target, herd_name, plan.pipeline), record.to_dict()))
        if ops:
            self.barn.txn([], ops)
        self._scheduled(key, True, "Scheduled", f"placed on node {target}", plan.revision or "")
        return Result()

    def _assignments(self) -> list[AssignmentRecord]:
        return [
            AssignmentRecord.from_dict(kv.value)
            for kv in self.barn.range(ASSIGNMENTS_PREFIX).kvs
            if isinstance(kv.value, Mapping)
        ]

    def _plans(self) -> dict[str, Plan]:
        plans = {}
        for kv in self.barn.range("/pipelines/").kvs:
            if isinstance(kv.value, Mapping):
                plan = plan_from_dict(kv.value)
                plans[plan.pipeline] = plan
        return plans

    def _scheduled(self, key: str, ok: bool, reason: str, message: str, revision: str) -> None:
        """Set the ``Scheduled`` condition of the pipeline's status (compare-and-swap)."""
        herd, _, _ = key.partition("/")
        skey = status_key(herd, key)
        for _ in range(5):
            kv = self.barn.get(skey)
            if kv is not None and isinstance(kv.value, Mapping):
                status, mod = StatusRecord.from_dict(kv.value), kv.mod_revision
            else:
                status, mod = StatusRecord(herd=herd, pipeline=key), 0
            before = next((c for c in status.conditions if c.type == "Scheduled"), None)
            if before is not None and (before.status, before.reason, before.message) == (
                "True" if ok else "False",
                reason,
                message,
            ):
                return
            new = condition(
                "Scheduled", "True" if ok else "False", reason, message, revision, before
            )
            conditions = (*(c for c in status.conditions if c.type != "Scheduled"), new)
            value = {**status.to_dict(), "conditions": [c.to_dict() for c in conditions]}
            done = self.barn.txn(
                [Compare(skey, CompareTarget.MOD_REVISION, CompareOp.EQUAL, mod)],
                [Op.put(skey, value)],
            )
            if done.succeeded:
                return


def _pipeline_id(value: Any) -> str:
    return str(value.get("pipeline", "")) if isinstance(value, Mapping) else ""


def _id(assignment: AssignmentRecord) -> str:
    return f"{assignment.herd}/{_local(assignment)}"


def _local(assignment: AssignmentRecord) -> str:
    return assignment.pipeline.removeprefix(f"{assignment.herd}/")


def _slices(plans: Iterable[Plan | None]) -> int:
    return sum(len(p.nodes) for p in plans if p is not None)


def _quota_problem(herd: Any, used_slices: int, demand: Demand) -> str | None:
    quota = herd.quota
    if quota.slices is not None and used_slices + demand.slices > quota.slices:
        return (
            f"herd {herd.name} quota exceeded: {used_slices + demand.slices} slices with its "
            f"other placed pipelines, quota {quota.slices}"
        )
    checks = (
        ("cpu", quota.cpu_millis, demand.cpu_millis, "m"),
        ("memory", quota.memory_bytes, demand.memory_bytes, " bytes"),
    )
    for what, limit, asked, unit in checks:
        if limit is not None and asked > limit:
            return (
                f"herd {herd.name} quota exceeded: a slice asks for {what} {asked}{unit}, "
                f"more than the herd's whole quota {limit}{unit}"
            )
    return None


def _why_nowhere(nodes: Mapping[str, NodeRecord], labels: Mapping[str, str], demand: Demand) -> str:
    if not nodes:
        return "no live node: start an agent (runi agent) or check that its lease is renewed"
    matching = [n for n in nodes.values() if all(n.labels.get(k) == v for k, v in labels.items())]
    if not matching:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return f"no live node has the labels {wanted} (live: {', '.join(sorted(nodes))})"
    return (
        f"no node matching the labels can hold a slice of {demand.cpu_millis}m CPU and "
        f"{demand.memory_bytes} bytes of memory"
    )
