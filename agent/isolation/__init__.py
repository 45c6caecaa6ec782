"""Slice isolation: cgroups (v2, v1, hybrid), namespaces, herd network namespaces, secrets.

Public API: :class:`IsolatedSpawner` (a :class:`runink.runtime.spawn.Spawner`),
:class:`HerdIsolation`, :class:`IsolationError`, :func:`detect` (the cgroup driver of
this host), :func:`sweep_dead_owners` and :func:`doctor` (what this host offers).
"""

from agent.isolation.cgroups import CgroupDriver, Limits, detect
from agent.isolation.doctor import HostReport, doctor
from agent.isolation.leftovers import sweep_dead_owners
from agent.isolation.policy import HerdIsolation, IsolationError
from agent.isolation.secrets import load_secrets
from agent.isolation.spawner import OOM_KILLED, IsolatedProcess, IsolatedSpawner

__all__ = [
    "OOM_KILLED",
    "CgroupDriver",
    "HerdIsolation",
    "HostReport",
    "IsolatedProcess",
    "IsolatedSpawner",
    "IsolationError",
    "Limits",
    "detect",
    "doctor",
    "load_secrets",
    "sweep_dead_owners",
]
