"""Controllers that reconcile the pipeline repository against Barn (DESIGN §8).

Public API: the controller shape (:class:`Controller`, :class:`Result`,
:class:`ReconcileError`), the :class:`Manager` that runs controllers from
de-duplicating, rate-limited :class:`WorkQueue` s, and the :class:`ControllerLease`
that lets one server's controllers act at a time.
"""

from reconciler.controller import Controller, Manager, ReconcileError, Result
from reconciler.leader import LEADER_KEY, ControllerLease
from reconciler.queue import Backoff, WorkQueue

__all__ = [
    "LEADER_KEY",
    "Backoff",
    "Controller",
    "ControllerLease",
    "Manager",
    "ReconcileError",
    "Result",
    "WorkQueue",
]
