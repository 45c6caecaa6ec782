"""Controllers in controller-runtime's shape, and the manager that runs them.

A controller has one ``reconcile(key) -> Result``: level-triggered (it reads the
state it needs, never an event's payload) and idempotent (running it twice does
what running it once did). The manager feeds each controller from its own
:class:`WorkQueue`: keys it is told about, plus every key again at each resync
(a period with jitter, so several servers do not beat in step). Failed keys come
back with per-key exponential backoff. Controllers act only while ``active()``
holds (the controller lease in Barn), so two servers never both act.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from reconciler.queue import Backoff, WorkQueue
from runink.findings import Finding
from runink.observability.metrics import RECONCILE_DURATION, RECONCILE_TOTAL

log = logging.getLogger("runink.reconciler")


@dataclass(frozen=True)
class ReconcileError:
    """Why a reconcile failed: a condition reason (``ValidationFailed``), a message,
    the findings behind it (with positions), and whether retrying can help."""

    reason: str
    message: str
    findings: tuple[Finding, ...] = ()
    retry: bool = True


@dataclass(frozen=True)
class Result:
    """What a reconcile asks of the manager: come back later, or retry after an error."""

    requeue_after: float | None = None
    error: ReconcileError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Controller(Protocol):
    @property
    def name(self) -> str:
        """Label of this controller in metrics and logs (``source``, ``apply``...)."""
        ...

    def reconcile(self, key: str) -> Result:
        """Bring ``key`` to its desired state; idempotent."""
        ...

    def keys(self) -> Iterable[str]:
        """Every key this controller owns now (what a resync queues)."""
        ...


@dataclass
class _Running:
    controller: Controller
    queue: WorkQueue
    threads: list[threading.Thread] = field(default_factory=list)


class Manager:
    """Runs controllers: one queue and ``workers`` threads each, resync, leadership gate."""

    def __init__(
        self,
        controllers: Sequence[Controller],
        *,
        workers: int = 1,
        resync: float = 30.0,
        jitter: float = 0.2,
        backoff: Backoff | None = None,
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        self.workers = workers
        self.resync = resync
        self.jitter = jitter
        self.active = active
        self._running = {c.name: _Running(c, WorkQueue(backoff or Backoff())) for c in controllers}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def queue(self, controller: str) -> WorkQueue:
        return self._running[controller].queue

    def enqueue(self, controller: str, key: str, after: float = 0.0) -> None:
        """Ask ``controller`` to reconcile ``key`` (now, or after ``after`` seconds)."""
        self._running[controller].queue.add_after(key, after)

    def resync_all(self) -> None:
        """Queue every key of every controller (what the periodic resync does)."""
        for running in self._running.values():
            try:
                keys = list(running.controller.keys())
            except Exception:  # a controller that cannot list keys now will next time
                log.exception("listing keys of controller %s", running.controller.name)
                continue
            for key in keys:
                running.queue.add(key)

    def start(self) -> None:
        for running in self._running.values():
            for i in range(self.workers):
                thread = threading.Thread(
                    target=self._work,
                    args=(running,),
                    name=f"reconcile-{running.controller.name}-{i}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        resync = threading.Thread(target=self._resync_loop, name="reconcile-resync", daemon=True)
        resync.start()
        self._threads.append(resync)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for running in self._running.values():
            running.queue.shutdown()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _resync_loop(self) -> None:
        self.resync_all()
        while not self._stop.wait(self._next_resync()):
            self.resync_all()

    def _next_resync(self) -> float:
        # Jitter only spreads load between servers; it protects nothing.
        return self.resync * (1 + random.uniform(-self.jitter, self.jitter))  # noqa: S311

    def _work(self, running: _Running) -> None:
        queue = running.queue
        while not self._stop.is_set():
            key = queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                if not self.active():  # not the lease holder: keep the key for later
                    queue.add_after(key, 1.0)
                    continue
                self.process(running.controller, queue, key)
            finally:
                queue.done(key)

    @staticmethod
    def process(controller: Controller, queue: WorkQueue, key: str) -> Result:
        """One reconcile of ``key``, with its outcome applied to ``queue`` and metrics."""
        started = time.perf_counter()
        try:
            result = controller.reconcile(key)
        except Exception as exc:  # a bug in a controller must not stop the loop
            log.exception("controller %s crashed on %s", controller.name, key)
            result = Result(error=ReconcileError("InternalError", f"{type(exc).__name__}: {exc}"))
        RECONCILE_DURATION.labels(controller.name).observe(time.perf_counter() - started)
        if result.error is not None:
            RECONCILE_TOTAL.labels(controller.name, "error").inc()
            if result.error.retry:
                queue.add_rate_limited(key)
            else:
                queue.forget(key)  # nothing to retry: a change (or resync) brings it back
            log.info(
                "reconcile %s %s failed: %s: %s",
                controller.name,
                key,
                result.error.reason,
                result.error.message,
            )
            return result
        queue.forget(key)
        if result.requeue_after is not None:
            RECONCILE_TOTAL.labels(controller.name, "requeue").inc()
            queue.add_after(key, result.requeue_after)
        else:
            RECONCILE_TOTAL.labels(controller.name, "success").inc()
        return result
