"""A de-duplicating, rate-limited work queue of keys (client-go's workqueue, in Python).

A key is in the queue at most once; a key being reconciled that is added again is
reconciled once more after the current pass (never twice at once). Failed keys come
back after a per-key exponential backoff (5 ms doubling, capped); delayed adds wait
in a heap until due.
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Per-key exponential backoff: ``base * 2**failures``, at most ``cap`` seconds."""

    base: float = 0.005
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * 2 ** min(failures, 32)))


class WorkQueue:
    """Keys to reconcile. Thread-safe; ``get`` blocks until a key is due."""

    def __init__(self, backoff: Backoff | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._cond = threading.Condition()
        self._queue: list[str] = []  # FIFO of dirty keys not being processed
        self._dirty: set[str] = set()  # queued, or to be queued again once done
        self._processing: set[str] = set()
        self._waiting: list[tuple[float, int, str]] = []  # (due, seq, key) heap
        self._seq = 0
        self._failures: dict[str, int] = {}
        self._shutdown = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def add(self, key: str) -> None:
        """Queue ``key`` unless it is already queued."""
        with self._cond:
            self._add(key)

    def _add(self, key: str) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:  # otherwise done() re-queues it
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown:
                return
            self._seq += 1
            heapq.heappush(self._waiting, (time.monotonic() + delay, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Queue ``key`` after its backoff, which doubles with each call; the delay used."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = self.backoff.delay(failures)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """``key`` succeeded: its next failure starts the backoff again from the base."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def get(self, timeout: float | None = None) -> str | None:
        """The next due key (now being processed), or None on timeout or shutdown."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._promote_due()
                if self._queue:
                    key = self._queue.pop(0)
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                if self._shutdown:
                    return None
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return None
                wait = None if deadline is None else deadline - now
                if self._waiting:
                    until_due = max(0.0, self._waiting[0][0] - now)
                    wait = until_due if wait is None else min(wait, until_due)
                self._cond.wait(wait)

    def _promote_due(self) -> None:
        now = time.monotonic()
        while self._waiting and self._waiting[0][0] <= now:
            _, _, key = heapq.heappop(self._waiting)
            self._add(key)

    def done(self, key: str) -> None:
        """Processing of ``key`` ended; if it was added meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutdown:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        """Wake every waiter; ``get`` returns None from now on."""
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()
