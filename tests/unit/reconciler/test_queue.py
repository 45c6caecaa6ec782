"""The work queue: one entry per key, never two passes at once, backoff that doubles."""

from __future__ import annotations

import threading

import pytest

from reconciler.queue import Backoff, WorkQueue

pytestmark = pytest.mark.timeout(30)


def test_a_key_added_many_times_is_reconciled_once() -> None:
    queue = WorkQueue()
    for _ in range(5):
        queue.add("herds/finance")
    queue.add("herds/ecommerce")
    assert len(queue) == 2
    assert queue.get(timeout=0) == "herds/finance"
    assert queue.get(timeout=0) == "herds/ecommerce"
    assert queue.get(timeout=0) is None


def test_a_key_added_while_being_processed_comes_back_after_done_not_before() -> None:
    queue = WorkQueue()
    queue.add("k")
    assert queue.get(timeout=0) == "k"
    queue.add("k")  # changed while its reconcile runs
    assert queue.get(timeout=0) is None  # no second worker may take it now
    queue.done("k")
    assert queue.get(timeout=0) == "k"


def test_backoff_starts_at_5ms_doubles_and_is_capped() -> None:
    backoff = Backoff(base=0.005, cap=1.0)
    assert [backoff.delay(n) for n in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert backoff.delay(200) == 1.0
    queue = WorkQueue(backoff)
    delays = [queue.add_rate_limited("k") for _ in range(3)]
    assert delays == [0.005, 0.01, 0.02]
    queue.forget("k")  # success resets it
    assert queue.add_rate_limited("k") == 0.005


def test_a_delayed_key_is_not_handed_out_before_it_is_due() -> None:
    queue = WorkQueue()
    queue.add_after("later", 3600)
    queue.add("now")
    assert queue.get(timeout=0) == "now"
    assert queue.get(timeout=0.05) is None  # an hour has not passed
    queue.add_after("soon", 0.05)
    assert queue.get(timeout=30) == "soon"  # a due key wakes a waiting worker


def test_shutdown_wakes_a_waiting_worker() -> None:
    queue = WorkQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    queue.shutdown()
    worker.join(5)
    assert got == [None] and not worker.is_alive()
