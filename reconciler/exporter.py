"""The server's Barn-derived metrics, computed at scrape time (DESIGN §9).

What the alert rules read about pipelines, sources, nodes and lineage is already in
Barn; a collector turns it into metrics when Prometheus scrapes, so every server member
exports the same truth without any controller having to remember to set a gauge.
Reads are local (serializable): a scrape never waits on Raft.

A scrape costs one range per key prefix plus work proportional to what changed since
the last scrape: run records are cached by ``mod_revision``, so a scrape of a server
holding a thousand pipelines re-reads only the runs that moved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from runink.api.keys import NODES_PREFIX, SOURCES_PREFIX
from runink.barn import BarnClient, BarnError
from runink.observability import metrics

log = logging.getLogger("runink.exporter")

#: The outcomes ``runink_pipeline_records_total`` carries (the run record's totals).
OUTCOMES = ("read", "written", "dlq", "filtered")
PIPELINES_PREFIX = "/pipelines/"
RUNS_PREFIX = "/runs/"
LINEAGE_PENDING_PREFIX = "/lineage/pending/"

Pipeline = tuple[str, str]  # (herd, pipeline id <herd>/<feature>/<scenario>)
Family = CounterMetricFamily | GaugeMetricFamily


@dataclass(frozen=True)
class _Objectives:
    mod_revision: int
    pipeline: Pipeline
    dlq_ratio: float | None
    freshness_seconds: float | None


@dataclass(frozen=True)
class _RunSeen:
    mod_revision: int
    pipeline: Pipeline
    counts: Mapping[str, int]


def _pipeline_of(key: str) -> Pipeline | None:
    """(herd, pipeline id) of ``/<kind>/<herd>/<feature>/<scenario>[/...]``."""
    parts = key.split("/")
    if len(parts) < 5 or not all(parts[2:5]):
        return None
    return parts[2], "/".join(parts[2:5])


def _timestamp(text: object) -> float | None:
    """Unix seconds of an ISO-8601 time (``...Z`` or with an offset), None if not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def objectives(plan: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(dlq ratio, freshness seconds) of a stored Plan: declared with ``@slo``, freshness
    else twice the ``@schedule`` interval; None where there is neither."""
    slo = plan.get("slo")
    slo = slo if isinstance(slo, Mapping) else {}
    trigger = plan.get("trigger")
    trigger = trigger if isinstance(trigger, Mapping) else {}
    ratio = slo.get("dlq_ratio")
    freshness = slo.get("freshness_seconds")
    interval = trigger.get("interval_seconds")
    if not isinstance(freshness, int | float) and trigger.get("kind") == "schedule":
        freshness = 2 * interval if isinstance(interval, int | float) and interval > 0 else None
    return (
        float(ratio) if isinstance(ratio, int | float) else None,
        float(freshness) if isinstance(freshness, int | float) else None,
    )


class BarnExporter(Collector):
    """A prometheus-client collector over one Barn (register it once per process)."""

    def __init__(self, barn: BarnClient, clock: Callable[[], float] = time.time) -> None:
        self.barn = barn
        self.clock = clock
        self._lock = threading.Lock()
        self._objectives: dict[str, _Objectives] = {}
        self._runs: dict[str, _RunSeen] = {}
        self._totals: dict[Pipeline, dict[str, int]] = {}
        self._last_success: dict[Pipeline, float] = {}
        self._nodes_seen: set[str] = set()
        self._label_sets: dict[Pipeline, tuple[dict[str, str], tuple[dict[str, str], ...]]] = {}
        self._signature: tuple[int, ...] = ()
        self._pipeline_families: list[Metric] = []
        self._pipeline_text = b""
        self._text_signature: tuple[int, ...] | None = None

    def describe(self) -> Iterable[Metric]:
        """The families, without samples (lets the registry refuse a second exporter)."""
        return list(self._families().values())

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            try:
                return self._collect()
            except BarnError as exc:  # shutting down, or the member is unwell: say nothing
                log.warning("metrics from Barn unavailable: %s", exc)
                return []

    def text(self) -> bytes:
        """These families in the text exposition format. The pipeline families (a
        thousand pipelines make eight thousand samples) are rendered once per change of
        plans or runs, not once per scrape: formatting them is most of a scrape."""
        metrics_now = list(self.collect())
        with self._lock:
            pipeline_ids = {id(m) for m in self._pipeline_families}
            if self._text_signature != self._signature:
                self._pipeline_text = generate_latest(_Fixed(self._pipeline_families))
                self._text_signature = self._signature
            rest = [m for m in metrics_now if id(m) not in pipeline_ids]
            return self._pipeline_text + generate_latest(_Fixed(rest))

    # ------------------------------------------------------------ internals

    def _families(self) -> dict[str, Family]:
        specs = {
            "records": metrics.PIPELINE_RECORDS,
            "last_success": metrics.PIPELINE_LAST_SUCCESS,
            "slo_dlq": metrics.PIPELINE_SLO_DLQ_RATIO,
            "slo_fresh": metrics.PIPELINE_SLO_FRESHNESS,
            "source": metrics.SOURCE_READY,
            "source_applied": metrics.SOURCE_LAST_APPLIED,
            "node": metrics.NODE_READY,
            "pending": metrics.LINEAGE_PENDING,
            "pending_age": metrics.LINEAGE_OLDEST_PENDING_AGE,
        }
        families: dict[str, Family] = {}
        for name, spec in specs.items():
            kind = CounterMetricFamily if spec.name.endswith("_total") else GaugeMetricFamily
            families[name] = kind(spec.name, spec.help, labels=list(spec.labels))
        return families

    def _collect(self) -> list[Metric]:
        read = self.barn.range
        plans = read(PIPELINES_PREFIX, serializable=True).kvs
        runs = read(RUNS_PREFIX, serializable=True).kvs
        sources = read(SOURCES_PREFIX, serializable=True).kvs
        nodes = read(NODES_PREFIX, serializable=True).kvs
        pending = read(LINEAGE_PENDING_PREFIX, serializable=True).kvs
        families = self._families()

        # Any put raises the largest mod_revision, any delete lowers the count: when
        # neither moved, the pipeline families of the last scrape are still true.
        signature = (len(plans), _newest(plans), len(runs), _newest(runs))
        if signature != self._signature:
            self._pipeline_families = self._pipelines(plans, runs)
            self._signature = signature

        for kv in sources:
            repo = kv.key.rsplit("/", 1)[-1]
            families["source"].add_metric([repo], _ready(kv.value))
            applied = (
                _timestamp(kv.value.get("appliedAt")) if isinstance(kv.value, Mapping) else None
            )
            if applied is not None:
                families["source_applied"].add_metric([repo], applied)

        live = {kv.key.rsplit("/", 1)[-1] for kv in nodes}
        # An expired node's key is gone with its lease: remember names to report it as 0.
        self._nodes_seen |= live
        for node in sorted(self._nodes_seen):
            families["node"].add_metric([node], 1.0 if node in live else 0.0)

        now = self.clock()
        ended = [
            t
            for kv in pending
            if isinstance(kv.value, Mapping)
            and (t := _timestamp(kv.value.get("ended_at"))) is not None
        ]
        families["pending"].add_metric([], len(pending))
        families["pending_age"].add_metric([], max(0.0, now - min(ended)) if ended else 0.0)
        kept = ("source", "source_applied", "node", "pending", "pending_age")
        return [*self._pipeline_families, *(families[k] for k in kept)]

    def _pipelines(self, plans: Iterable[Any], runs: Iterable[Any]) -> list[Metric]:
        """The four pipeline families, samples built directly (a thousand pipelines make
        eight thousand samples: add_metric's per-call checks would dominate)."""
        families = self._families()
        present: set[Pipeline] = set()
        objectives_now: dict[str, _Objectives] = {}
        slo_dlq: list[Sample] = []
        slo_fresh: list[Sample] = []
        for kv in plans:
            known = self._objectives.get(kv.key)
            if known is None or known.mod_revision != kv.mod_revision:
                pipeline = _pipeline_of(kv.key)
                if pipeline is None or not isinstance(kv.value, Mapping):
                    continue
                known = _Objectives(kv.mod_revision, pipeline, *objectives(kv.value))
            objectives_now[kv.key] = known
            present.add(known.pipeline)
            labels = self._labels(known.pipeline)[0]
            if known.dlq_ratio is not None:
                slo_dlq.append(Sample(metrics.PIPELINE_SLO_DLQ_RATIO.name, labels, known.dlq_ratio))
            if known.freshness_seconds is not None:
                slo_fresh.append(
                    Sample(metrics.PIPELINE_SLO_FRESHNESS.name, labels, known.freshness_seconds)
                )
        self._objectives = objectives_now
        self._count_runs(runs, present)

        records: list[Sample] = []
        last_success: list[Sample] = []
        name = metrics.PIPELINE_RECORDS.name
        for pipeline in sorted(present):
            labels, by_outcome = self._labels(pipeline)
            totals = self._totals.setdefault(pipeline, {})
            for outcome, outcome_labels in zip(OUTCOMES, by_outcome, strict=True):
                records.append(Sample(name, outcome_labels, totals.get(outcome, 0)))
            if pipeline in self._last_success:
                last_success.append(
                    Sample(metrics.PIPELINE_LAST_SUCCESS.name, labels, self._last_success[pipeline])
                )
        for gone in set(self._totals) - present:  # neither a Plan nor a run left: forget it
            del self._totals[gone]
            self._last_success.pop(gone, None)
            self._label_sets.pop(gone, None)
        families["records"].samples = records
        families["last_success"].samples = last_success
        families["slo_dlq"].samples = slo_dlq
        families["slo_fresh"].samples = slo_fresh
        return [families[k] for k in ("records", "last_success", "slo_dlq", "slo_fresh")]

    def _labels(self, pipeline: Pipeline) -> tuple[dict[str, str], tuple[dict[str, str], ...]]:
        """The label sets of one pipeline (made once; samples share them read-only)."""
        known = self._label_sets.get(pipeline)
        if known is None:
            herd, name = pipeline
            base = {"herd": herd, "pipeline": name}
            known = (base, tuple({**base, "outcome": o} for o in OUTCOMES))
            self._label_sets[pipeline] = known
        return known

    def _count_runs(self, runs: Iterable[Any], present: set[Pipeline]) -> None:
        """Fold new and changed run records into the running totals (never decreasing:
        a pruned run keeps its share, as a counter must)."""
        seen_now: dict[str, _RunSeen] = {}
        for kv in runs:
            before = self._runs.get(kv.key)
            if before is not None and before.mod_revision == kv.mod_revision:
                seen_now[kv.key] = before
                present.add(before.pipeline)
                continue
            pipeline = _pipeline_of(kv.key)
            if pipeline is None or not isinstance(kv.value, Mapping):
                continue
            present.add(pipeline)
            counts = _run_counts(kv.value)
            old = before.counts if before is not None else {}
            merged = {o: max(old.get(o, 0), counts.get(o, 0)) for o in OUTCOMES}
            totals = self._totals.setdefault(pipeline, {})
            for outcome in OUTCOMES:
                totals[outcome] = totals.get(outcome, 0) + merged[outcome] - old.get(outcome, 0)
            seen_now[kv.key] = _RunSeen(kv.mod_revision, pipeline, merged)
            if kv.value.get("outcome") == "succeeded":
                ended = _timestamp(kv.value.get("ended_at"))
                if ended is not None and ended > self._last_success.get(pipeline, 0.0):
                    self._last_success[pipeline] = ended
        self._runs = seen_now


def _newest(kvs: Iterable[Any]) -> int:
    return max((kv.mod_revision for kv in kvs), default=0)


def _run_counts(run: Mapping[str, Any]) -> dict[str, int]:
    totals = run.get("totals")
    if not isinstance(totals, Mapping):
        return {}
    return {o: int(totals[o]) for o in OUTCOMES if isinstance(totals.get(o), int | float)}


def _ready(source: object) -> float:
    if not isinstance(source, Mapping):
        return 0.0
    for cond in source.get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return 1.0 if cond.get("status") == "True" else 0.0
    return 0.0


class _Fixed(Collector):
    """A registry-shaped wrapper of ready families, for generate_latest."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


_ATTACHED: list[BarnExporter] = []


def attach(barn: BarnClient) -> BarnExporter | None:
    """An exporter of ``barn``'s metrics, served next to the default registry (see
    :meth:`BarnExporter.text`); None when another server in this process already has
    one (one process, one set of these series)."""
    if _ATTACHED:
        log.warning("another server in this process exports the Barn metrics; not this one")
        return None
    exporter = BarnExporter(barn)
    _ATTACHED.append(exporter)
    return exporter


def detach(exporter: BarnExporter | None) -> None:
    """Stop exporting (idempotent)."""
    if exporter is not None and exporter in _ATTACHED:
        _ATTACHED.remove(exporter)


__all__ = ["OUTCOMES", "BarnExporter", "attach", "detach", "objectives"]
