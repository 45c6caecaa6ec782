"""The status controller: each pipeline's sync and health, as conditions (DESIGN §8).

Sync compares the revision the agents report running with the desired Plan's revision
(``Synced``/``OutOfSync``). Health is the worst of: the herd or pipeline suspended
(``Suspended``), not placed (``Progressing``, or ``Degraded`` when it fits nowhere),
slices failed or OOM-killed or the last run failed (``Degraded``), slices starting or
an old revision still running (``Progressing``), else ``Healthy``. A pipeline that left
the repository loses its status (``runi status`` stops listing it). The verdict is
written only when it changed, with compare-and-swap, so agents' reports written at the
same time are never lost; ``runink_pipeline_info`` mirrors it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.controller import ReconcileError, Result
from reconciler.source import condition
from runink.api.keys import ASSIGNMENTS_PREFIX, herd_key, pipeline_key, runs_prefix, status_key
from runink.api.records import READY_STATES, Condition, RunRecord, StatusRecord, now_iso
from runink.barn import BarnClient, Compare, CompareOp, CompareTarget, Op
from runink.observability.metrics import PIPELINE_INFO

FAILED = frozenset({"failed", "OOMKilled", "cancelled"})
SEVERITY = {"Healthy": 0, "Suspended": 1, "Progressing": 2, "Missing": 3, "Degraded": 4}


def worst(healths: Iterable[str]) -> str:
    """The worst of several healths (a herd's health is the worst of its pipelines')."""
    return max(healths, key=lambda h: SEVERITY.get(h, 0), default="Healthy")


class StatusController:
    """Keys: pipeline ids ``<herd>/<feature>/<scenario>``."""

    name = "status"

    def __init__(self, barn: BarnClient) -> None:
        self.barn = barn
        self._exported: dict[str, tuple[str, str, str, str, str]] = {}

    def keys(self) -> Iterable[str]:
        ids = set()
        for prefix in ("/pipelines/", "/status/"):
            for kv in self.barn.range(prefix).kvs:
                parts = kv.key.split("/")
                if len(parts) == 5:
                    ids.add("/".join(parts[2:]))
        return sorted(ids)

    def reconcile(self, key: str) -> Result:
        herd_name = key.partition("/")[0]
        skey = status_key(herd_name, key)
        plan_kv = self.barn.get(pipeline_key(herd_name, key))
        if plan_kv is None or not isinstance(plan_kv.value, Mapping):
            self.barn.delete(skey)  # the pipeline left the repository: so does its status
            self._export(key, None)
            return Result()
        plan: Mapping[str, Any] = plan_kv.value
        desired = str(plan.get("revision") or "")
        herd_kv = self.barn.get(herd_key(herd_name))
        suspended = bool(
            herd_kv and isinstance(herd_kv.value, Mapping) and herd_kv.value.get("suspend")
        )
        last_run = self._last_run(herd_name, key)
        assigned = self._assigned_nodes(key)
        for _ in range(5):
            kv = self.barn.get(skey)
            current = (
                StatusRecord.from_dict(kv.value)
                if kv is not None and isinstance(kv.value, Mapping)
                else StatusRecord(herd=herd_name, pipeline=key)
            )
            # Reports of a node the pipeline left (it moved, or the node died) are history.
            current = replace(
                current, nodes={n: r for n, r in current.nodes.items() if n in assigned}
            )
            verdict = judge(
                current, desired, suspended, last_run, str(plan.get("trigger", {}).get("kind", ""))
            )
            updated = _apply(current, verdict, desired)
            if updated.to_dict() | {"updatedAt": ""} == current.to_dict() | {"updatedAt": ""}:
                self._export(key, updated)
                return Result()
            mod = kv.mod_revision if kv is not None else 0
            done = self.barn.txn(
                [Compare(skey, CompareTarget.MOD_REVISION, CompareOp.EQUAL, mod)],
                [Op.put(skey, updated.to_dict())],
            )
            if done.succeeded:
                self._export(key, updated)
                return Result()
        return Result(error=ReconcileError("Conflict", "status kept changing; retrying"))

    def _assigned_nodes(self, pipeline: str) -> set[str]:
        suffix = "/" + pipeline
        return {
            kv.key.removeprefix(ASSIGNMENTS_PREFIX).split("/", 1)[0]
            for kv in self.barn.range(ASSIGNMENTS_PREFIX).kvs
            if kv.key.endswith(suffix)
        }

    def _last_run(self, herd: str, pipeline: str) -> RunRecord | None:
        runs = [
            RunRecord.from_dict(kv.value)
            for kv in self.barn.range(runs_prefix(herd, pipeline)).kvs
            if isinstance(kv.value, Mapping)
        ]
        finished = [r for r in runs if r.ended_at]
        return max(finished, key=lambda r: r.ended_at, default=None)

    def _export(self, key: str, status: StatusRecord | None) -> None:
        old = self._exported.pop(key, None)
        if old is not None:
            PIPELINE_INFO.remove(*old)
        if status is not None:
            labels = (status.herd, key, status.revision, status.sync, status.health)
            PIPELINE_INFO.labels(*labels).set(1)
            self._exported[key] = labels


def judge(
    status: StatusRecord,
    desired: str,
    suspended: bool,
    last_run: RunRecord | None,
    trigger: str,
) -> tuple[str, str, str]:
    """(sync, health, message) of one pipeline from what is known of it."""
    reported = {r.revision for r in status.nodes.values() if r.revision}
    running = next(iter(reported)) if len(reported) == 1 else ""
    sync = "Synced" if reported == {desired} else "OutOfSync"
    scheduled = next((c for c in status.conditions if c.type == "Scheduled"), None)
    slices = status.slices
    if suspended:
        return sync, "Suspended", "the herd is suspended: no new runs, no drift correction"
    if scheduled is not None and scheduled.status == "False":
        return sync, "Degraded", scheduled.message
    if scheduled is None or not status.nodes:
        return sync, "Progressing", "waiting for a node to run it"
    broken = [s for s in slices if s.state in FAILED]
    if broken:
        first = broken[0]
        detail = f": {first.message}" if first.message else ""
        return sync, "Degraded", f"slice {first.slice} {first.state}{detail}"
    if last_run is not None and last_run.outcome != "succeeded" and last_run.revision == desired:
        return sync, "Degraded", f"run {last_run.run_id} {last_run.outcome}"
    if sync == "OutOfSync":
        was = running or "another revision"
        return sync, "Progressing", f"{was} is running; {desired} is on its way"
    if any(s.state not in READY_STATES for s in slices):
        return sync, "Progressing", "slices are starting"
    if trigger == "once" and (last_run is None or last_run.revision != desired):
        return sync, "Progressing", "the run of this revision has not finished"
    return sync, "Healthy", ""


def _apply(status: StatusRecord, verdict: tuple[str, str, str], desired: str) -> StatusRecord:
    sync, health, message = verdict
    before = {c.type: c for c in status.conditions}
    synced = condition(
        "Synced", "True" if sync == "Synced" else "False", sync, "", desired, before.get("Synced")
    )
    healthy = condition(
        "Healthy",
        "True" if health == "Healthy" else "False",
        health,
        message,
        desired,
        before.get("Healthy"),
    )
    kept: tuple[Condition, ...] = tuple(
        c for c in status.conditions if c.type not in ("Synced", "Healthy")
    )
    reported = {r.revision for r in status.nodes.values() if r.revision}
    return StatusRecord(
        herd=status.herd,
        pipeline=status.pipeline,
        revision=desired if sync == "Synced" else (next(iter(reported)) if reported else ""),
        sync=sync,
        health=health,
        message=message,
        conditions=(*kept, synced, healthy),
        nodes=status.nodes,
        updated_at=now_iso(),
    )
