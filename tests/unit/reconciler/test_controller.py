"""The manager runs reconcile passes: retries with backoff, requeues, survives crashes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import pytest
from prometheus_client import REGISTRY

from reconciler.controller import Manager, ReconcileError, Result
from reconciler.queue import Backoff

pytestmark = pytest.mark.timeout(30)


class Flaky:
    """Fails its first ``failures`` passes per key, then succeeds; records every pass."""

    def __init__(
        self, name: str, failures: int = 0, crash: bool = False, keys: tuple[str, ...] = ()
    ) -> None:
        self.name = name
        self.owned = keys
        self.failures = failures
        self.crash = crash
        self.passes: list[tuple[str, float]] = []
        self.lock = threading.Lock()

    def reconcile(self, key: str) -> Result:
        with self.lock:
            self.passes.append((key, time.monotonic()))
            count = sum(1 for k, _ in self.passes if k == key)
        if count <= self.failures:
            if self.crash:
                raise RuntimeError("bug")
            return Result(error=ReconcileError("Broken", f"attempt {count}"))
        return Result()

    def keys(self) -> Iterable[str]:
        return self.owned


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_failing_key_is_retried_until_it_succeeds_and_its_backoff_resets() -> None:
    controller = Flaky("flaky-test", failures=3)
    manager = Manager([controller], resync=3600, backoff=Backoff(base=0.02, cap=1.0))
    before = metric("runink_reconcile_total", controller="flaky-test", result="error")
    manager.start()
    try:
        manager.enqueue("flaky-test", "x")
        wait_for(lambda: len([k for k, _ in controller.passes if k == "x"]) >= 4)
    finally:
        manager.stop()
    assert manager.queue("flaky-test").failures("x") == 0  # success forgot the failures
    after = metric("runink_reconcile_total", controller="flaky-test", result="error")
    assert after - before == 3


def test_a_controller_that_raises_is_retried_and_the_loop_lives_on() -> None:
    controller = Flaky("crashy-test", failures=1, crash=True)
    manager = Manager([controller], resync=3600, backoff=Backoff(base=0.01))
    manager.start()
    try:
        manager.enqueue("crashy-test", "x")
        wait_for(lambda: len(controller.passes) >= 2)
    finally:
        manager.stop()
    assert metric("runink_reconcile_total", controller="crashy-test", result="success") >= 1


def test_resync_reconciles_every_key_without_being_told() -> None:
    controller = Flaky("resync-test", keys=("a", "b"))
    manager = Manager([controller], resync=0.2, jitter=0.5)
    manager.start()
    try:
        wait_for(lambda: sum(1 for k, _ in controller.passes if k == "b") >= 2)
    finally:
        manager.stop()
    assert {k for k, _ in controller.passes} == {"a", "b"}


def test_controllers_do_nothing_while_not_the_lease_holder() -> None:
    controller = Flaky("gated-test")
    leading = threading.Event()
    manager = Manager([controller], resync=3600, active=leading.is_set)
    manager.start()
    try:
        manager.enqueue("gated-test", "x")
        time.sleep(0.3)
        assert controller.passes == []
        leading.set()
        wait_for(lambda: len(controller.passes) == 1, timeout=5)
    finally:
        manager.stop()


def test_an_error_that_retrying_cannot_fix_is_not_retried() -> None:
    class Invalid(Flaky):
        def reconcile(self, key: str) -> Result:
            self.passes.append((key, time.monotonic()))
            return Result(error=ReconcileError("ValidationFailed", "bad commit", retry=False))

    controller = Invalid("invalid-test")
    manager = Manager([controller], resync=3600, backoff=Backoff(base=0.005))
    manager.start()
    try:
        manager.enqueue("invalid-test", "x")
        time.sleep(0.3)
    finally:
        manager.stop()
    assert len(controller.passes) == 1
