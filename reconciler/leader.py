"""The controller lease: which server's controllers act.

A server holds leadership by owning a Barn key attached to a Barn lease. Barn grants
and expires leases by replicated commands, so when the holder dies its key goes
away for everyone at the same revision and another server's next attempt wins.
The holder counts itself leader only until a margin before its lease could have
expired without it noticing (a partitioned holder steps down before a new one
can step up).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from runink.barn import BarnClient, BarnError, Compare, CompareOp, CompareTarget, Op
from runink.observability.metrics import CONTROLLER_LEADER

log = logging.getLogger("runink.reconciler")

LEADER_KEY = "/leases/controllers"


class ControllerLease:
    """Campaigns for, holds and renews the controller lease of ``identity``."""

    def __init__(
        self, barn: BarnClient, identity: str, *, ttl: int = 6, key: str = LEADER_KEY
    ) -> None:
        self.barn = barn
        self.identity = identity
        self.ttl = ttl
        self.key = key
        self.lease_id = 0
        self._valid_until = 0.0  # monotonic; leader only before this
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        with self._lock:
            return self.lease_id != 0 and time.monotonic() < self._valid_until

    def holder(self) -> str | None:
        """Who holds the lease now, as Barn says (a linearizable read)."""
        kv = self.barn.get(self.key)
        return None if kv is None else str(kv.value)

    def step(self) -> bool:
        """One round: renew the lease held, or try to take a free one. Whether we lead."""
        started = time.monotonic()
        try:
            if self.lease_id:
                self.barn.lease_keepalive(self.lease_id)
                if self.holder() != self.identity:  # someone deleted or took the key
                    self._lose("the leader key no longer names us")
                else:
                    self._renewed(started)
            else:
                self._campaign(started)
        except BarnError as exc:  # lease gone, or Barn unreachable: not leader now
            self._lose(f"{type(exc).__name__}: {exc}")
        leading = self.is_leader()
        CONTROLLER_LEADER.labels(self.identity).set(1 if leading else 0)
        return leading

    def _campaign(self, started: float) -> None:
        lease = self.barn.lease_grant(self.ttl)
        result = self.barn.txn(
            [Compare(self.key, CompareTarget.CREATE_REVISION, CompareOp.EQUAL, 0)],
            [Op.put(self.key, self.identity, lease=lease.id)],
        )
        if not result.succeeded:
            with contextlib.suppress(BarnError):
                self.barn.lease_revoke(lease.id)
            return
        with self._lock:
            self.lease_id = lease.id
        self._renewed(started)
        log.info("%s now holds the controller lease", self.identity)

    def _renewed(self, started: float) -> None:
        with self._lock:
            # Counted from before the request: the lease may have been renewed any time
            # after we sent it. Two thirds of the TTL leaves a margin for clock rates.
            self._valid_until = started + self.ttl * 2 / 3

    def _lose(self, why: str) -> None:
        with self._lock:
            held, self.lease_id, self._valid_until = self.lease_id, 0, 0.0
        if held:
            log.warning("%s lost the controller lease: %s", self.identity, why)

    def start(self) -> None:
        """Campaign and renew in the background, every third of the TTL."""
        self._thread = threading.Thread(target=self._loop, name="controller-lease", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.ttl / 3)

    def stop(self) -> None:
        """Stop renewing and hand the lease back at once (the next server need not wait)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.ttl)
        with self._lock:
            held, self.lease_id, self._valid_until = self.lease_id, 0, 0.0
        if held:
            with contextlib.suppress(BarnError):
                self.barn.lease_revoke(held)
        CONTROLLER_LEADER.labels(self.identity).set(0)
