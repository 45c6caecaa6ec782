"""The node agent: registers its node, watches its assignments, converges its runs.

Threads: one heartbeat (the node's lease; registers again when the lease was lost),
one watch of the node's assignments (reconnecting from a full list when the stream
breaks), one convergence loop (level-triggered: on every change and every
``resync_seconds``; each pass ends with a self-heal sweep of the herds' cgroups), and
one :class:`PipelineWorker` per assigned pipeline.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import psutil

from agent.checkout import Checkout, Checkouts
from agent.config import AgentConfig
from agent.isolation import HerdIsolation, IsolatedSpawner
from agent.isolation.policy import grant
from agent.pipeline import Desired, PipelineWorker
from agent.selfheal import SelfHeal, Suspended
from agent.spawning import RunSpawner
from runink import __version__ as runink_version
from runink.api.client import ApiClient, ApiError
from runink.api.protos import runink_pb2 as pb
from runink.api.records import RunRecord, SliceState
from runink.api.server import run_to_pb
from runink.compiler.plan import plan_from_dict
from runink.observability import metrics
from runink.runtime.spawn import LocalSpawner, Spawner

logger = logging.getLogger(__name__)

FAILED_STATES = ("failed", "OOMKilled")


class Agent:
    """One node agent. ``Agent(config).start()`` runs it in this process; ``stop()`` ends
    every run cleanly and leaves no process, cgroup or namespace behind.

    Create it before any thread is started in the process (its isolation forkserver
    must fork from a single-threaded process).
    """

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.node = config.node
        self.data_dir = config.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.spawner: Spawner = IsolatedSpawner() if config.isolation else LocalSpawner()
        self._spawn_lock = threading.Lock()
        self._seed_lock = threading.Lock()
        self._http: Any = None
        # Herd names start with a letter or digit, so ".agent" is never a herd's dir.
        self.state_dir = self.data_dir / ".agent"
        self.checkouts = Checkouts(config.repo, self.state_dir)
        self.client: ApiClient | None = None
        self.lease_id = 0
        self.workers: dict[str, PipelineWorker] = {}
        self._desired: dict[str, Desired] = {}
        self._synced = threading.Event()
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._herds_prepared: dict[str, str] = {}
        self._reporter = _ApiReporter(self)
        self._gauge_states: set[tuple[str, str]] = set()
        self.selfheal: SelfHeal | None = None
        if isinstance(self.spawner, IsolatedSpawner):
            self.selfheal = SelfHeal(self.spawner, self._spawn_lock, self._suspended)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Agent:
        """Register the node and start watching and converging (returns at once)."""
        self.client = ApiClient.from_files(
            self.config.server, self.config.ca_file, self.config.cert_file, self.config.key_file
        )
        if self.config.metrics_port is not None:
            from runink.observability.http import MetricsHttp

            self._http = MetricsHttp(
                (self.config.metrics_address, self.config.metrics_port), self.config.metrics_token
            ).start()
        for target, name in (
            (self._heartbeat_loop, "heartbeat"),
            (self._watch_loop, "watch"),
            (self._converge_loop, "converge"),
        ):
            thread = threading.Thread(target=target, name=f"runink-agent {name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every run cleanly (streams drain and commit), then the agent."""
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._changed.set()
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.join(timeout)
        if self.client is not None:
            self.client.close()
        for thread in self._threads:
            thread.join(5.0)
        if isinstance(self.spawner, IsolatedSpawner):
            self.spawner.close()

    def wait(self) -> None:
        """Block until SIGTERM or SIGINT (main thread only), then stop."""
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: done.set())
        while not done.wait(0.5) and not self._stopping.is_set():
            pass
        self.stop()

    @property
    def api(self) -> ApiClient:
        if self.client is None:
            raise RuntimeError("the agent is not started")
        return self.client

    # --- registration ----------------------------------------------------------------

    def register(self) -> None:
        """Register the node (capacity from this host, labels from the config)."""
        reply = self.api.register(
            self.node,
            labels=dict(self.config.labels),
            cpu_millis=(os.cpu_count() or 1) * 1000,
            memory_bytes=int(psutil.virtual_memory().total),
            agent_version=runink_version,
            ttl_seconds=self.config.lease_ttl,
        )
        self.lease_id = reply.lease_id
        logger.info("node %s registered, lease %d", self.node, self.lease_id)

    def _heartbeat_loop(self) -> None:
        interval = max(self.config.lease_ttl / 3, 0.5)
        while not self._stopping.is_set():
            try:
                if not self.lease_id:
                    self.register()
                else:
                    self.api.heartbeat(self.node, self.lease_id)
            except ApiError as exc:
                if exc.code == "NOT_FOUND":
                    logger.warning("node %s lost its lease; registering again", self.node)
                    self.lease_id = 0
                    continue
                logger.warning("node %s: heartbeat failed: %s", self.node, exc)
            self._stopping.wait(interval)

    # --- assignments -----------------------------------------------------------------

    def _watch_loop(self) -> None:
        while not self._stopping.is_set():
            fresh: dict[str, Desired] = {}
            synced = False
            try:
                for event in self.api.watch_assignments(self.node):
                    if self._stopping.is_set():
                        return
                    target = fresh if not synced else None
                    if event.type == pb.AssignmentEvent.SYNCED:
                        synced = True
                        with self._lock:
                            self._desired = fresh
                        self._synced.set()
                    elif event.type == pb.AssignmentEvent.PUT:
                        desired = _desired(event)
                        if desired is None:
                            continue
                        with self._lock:
                            (target if target is not None else self._desired)[desired.pipeline] = (
                                desired
                            )
                    elif event.type == pb.AssignmentEvent.DELETE:
                        with self._lock:
                            (target if target is not None else self._desired).pop(
                                event.pipeline, None
                            )
                    if synced:
                        self._changed.set()
            except ApiError as exc:
                if not self._stopping.is_set():
                    logger.warning("node %s: assignment watch broke: %s", self.node, exc)
            except Exception:
                if not self._stopping.is_set():
                    logger.exception("node %s: assignment watch failed", self.node)
            self._stopping.wait(1.0)

    # --- convergence -----------------------------------------------------------------

    def _converge_loop(self) -> None:
        self._synced.wait()
        while not self._stopping.is_set():
            self._changed.clear()
            try:
                self.converge()
            except Exception:
                logger.exception("node %s: convergence pass failed", self.node)
            try:
                if self.selfheal is not None:
                    self.selfheal.sweep()
            except Exception:
                logger.exception("node %s: self-heal sweep failed", self.node)
            self._changed.wait(self.config.resync_seconds)

    def converge(self) -> None:
        """One level-triggered pass: a worker per desired pipeline, none for the rest."""
        with self._lock:
            desired = dict(self._desired)
            for key, worker in list(self.workers.items()):
                if key not in desired:
                    worker.stop()
                    if not worker.alive:
                        del self.workers[key]
                elif not worker.alive:
                    del self.workers[key]  # it ended by a bug: a fresh one takes over
            for key, want in desired.items():
                current = self.workers.get(key)
                if current is None:
                    self.workers[key] = self._worker(want).start()
                else:
                    current.update(want)
        self._update_gauges()

    def _suspended(self) -> Suspended:
        """What self-heal leaves alone: suspended herds and their pipelines."""
        with self._lock:
            wanted = [d for d in self._desired.values() if d.suspended]
        return Suspended(
            herds=frozenset(d.herd for d in wanted), pipelines=frozenset(d.pipeline for d in wanted)
        )

    def _worker(self, desired: Desired) -> PipelineWorker:
        return PipelineWorker(
            desired,
            node=self.node,
            checkout=self.checkouts.get,
            prepare=self._prepare_herd,
            spawner=lambda: RunSpawner(self.spawner, self._spawn_lock),
            reporter=self._reporter,
            state_dir=self.state_dir / "runs",
            backoff=(self.config.backoff_initial, self.config.backoff_max),
        )

    def _prepare_herd(self, checkout: Checkout, herd_name: str) -> Path:
        """The herd's data dir, and its isolation (quota, egress, secrets) from the commit."""
        data = self.data_dir / herd_name
        data.mkdir(parents=True, exist_ok=True)
        if self.config.seed_data and (checkout.path / "data").is_dir():
            seeded = data / "data"
            with self._seed_lock:  # two pipelines of a herd may start at once
                if not seeded.exists():
                    shutil.copytree(checkout.path / "data", seeded)
                    for path in (seeded, *seeded.rglob("*")):
                        path.chmod(0o755 if path.is_dir() else 0o644)
        herd = checkout.herd(herd_name)
        if herd is not None and isinstance(self.spawner, IsolatedSpawner):
            with self._spawn_lock:
                if self._herds_prepared.get(herd_name) != checkout.sha:
                    isolation = HerdIsolation.from_herd(
                        herd, self._secrets(herd_name, herd.secrets)
                    )
                    self.spawner.grants[herd_name] = grant(isolation, self.spawner.host)
                    self.spawner.herds[herd_name] = isolation
                    self._herds_prepared[herd_name] = checkout.sha
        return data

    def _secrets(self, herd: str, names: tuple[str, ...]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name in names:
            try:
                values[name] = self.api.get_secret(self.node, herd, name).value.decode()
            except ApiError as exc:
                logger.warning("herd %s: secret %s not delivered: %s", herd, name, exc)
        return values

    def _update_gauges(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            for state, n in worker.counts().items():
                key = (worker.desired.herd, state)
                counts[key] = counts.get(key, 0) + n
        for herd, state in self._gauge_states - set(counts):
            metrics.SLICES.labels(herd=herd, node=self.node, state=state).set(0)
        for (herd, state), n in counts.items():
            metrics.SLICES.labels(herd=herd, node=self.node, state=state).set(n)
        self._gauge_states |= set(counts)

    def status(self) -> dict[str, Any]:
        """What runs here now (for tests and `runi up`): pipeline -> revision, slices."""
        with self._lock:
            return {
                key: {
                    "revision": w.desired.revision,
                    "restarts": w.restarts,
                    "slices": {s.id: s.state for s in w.slices.values()},
                }
                for key, w in self.workers.items()
            }


class _ApiReporter:
    """The :class:`Reporter` of a running agent: its API client and metrics."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def slices(self, desired: Desired, slices: list[SliceState]) -> None:
        self.agent.api.report_slices(
            pb.SliceReport(
                node=self.agent.node,
                herd=desired.herd,
                pipeline=desired.pipeline,
                revision=desired.revision,
                slices=[
                    pb.SliceState(
                        node=s.node,
                        slice=s.slice,
                        state=s.state,
                        restarts=s.restarts,
                        message=s.message,
                    )
                    for s in slices
                ],
            )
        )

    def run(self, record: RunRecord, restarted: bool, events: str = "") -> None:
        node = self.agent.node
        labels = {"herd": record.herd, "pipeline": record.pipeline, "node": node}
        for step in record.steps:
            if restarted and step.state in FAILED_STATES:
                metrics.SLICE_RESTARTS.labels(step=step.id, **labels).inc()
            if step.state == "OOMKilled":
                metrics.SLICE_OOM_KILLS.labels(step=step.id, **labels).inc()
            for outcome, n in step.counts.items():
                metrics.RECORDS.labels(
                    herd=record.herd, pipeline=record.pipeline, step=step.id, outcome=outcome
                ).inc(n)
        if self.agent.selfheal is not None:
            notes = self.agent.selfheal.notes(record.herd, record.pipeline)
            record = replace(record, problems=(*record.problems, *notes)) if notes else record
        summary = run_to_pb(record)
        summary.events_json = events
        self.agent.api.report_run(node, summary)

    def succeeded_revisions(self, herd: str, pipeline: str) -> tuple[set[str], str]:
        runs = self.agent.api.list_pipeline_runs(self.agent.node, herd, pipeline, limit=500)
        done = {r.revision for r in runs if r.outcome == "succeeded"}
        return done, runs[0].started_at if runs else ""

    def checkpoint(self, herd: str, pipeline: str) -> dict[str, int]:
        return self.agent.api.get_checkpoint(self.agent.node, herd, pipeline)

    def save_checkpoint(self, herd: str, pipeline: str, offsets: Mapping[str, int]) -> None:
        self.agent.api.save_checkpoint(self.agent.node, herd, pipeline, offsets)


def _desired(event: pb.AssignmentEvent) -> Desired | None:
    try:
        assignment: Mapping[str, Any] = orjson.loads(event.assignment_json)
        plan_data = orjson.loads(event.plan_json) if event.plan_json else None
    except orjson.JSONDecodeError:
        logger.error("assignment %s: not JSON", event.pipeline)
        return None
    if not plan_data:
        logger.warning("assignment %s has no Plan in Barn yet", event.pipeline)
        return None
    plan = plan_from_dict(plan_data)
    # The Plan read with the event is the newest; the assignment follows it shortly.
    revision = str(plan.revision or assignment.get("revision") or "")
    return Desired(
        herd=event.herd,
        pipeline=plan.pipeline,
        revision=revision,
        plan=plan,
        suspended=bool(assignment.get("suspended", False)),
    )
