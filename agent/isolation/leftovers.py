"""Removing what a run left behind: its cgroups (and their processes) and network namespaces.

Everything a run creates is named ``runink-<pid>-<n>...`` after the supervisor that
owns it, so a later start can tell a dead owner's leftovers from a live run's.
"""

from __future__ import annotations

import contextlib
import os

from agent.isolation import netns
from agent.isolation.cgroups import PREFIX, CgroupDriver, CgroupError


def owner_pid(name: str) -> int | None:
    """The supervisor pid in a ``runink-<pid>-...`` name (None: not one of ours)."""
    if not name.startswith(PREFIX):
        return None
    pid = name[len(PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(driver: CgroupDriver, token: str) -> list[str]:
    """Kill and remove every cgroup and network namespace of run ``token``."""
    removed: list[str] = []
    if token in driver.roots():
        with contextlib.suppress(CgroupError):
            driver.remove(token)
            removed.append(f"cgroup {token}")
    for name in netns.names(f"{token}-"):
        netns.remove(name)
        removed.append(f"netns {name}")
    return removed


def sweep_dead_owners(driver: CgroupDriver) -> list[str]:
    """Remove the leftovers of every supervisor that is no longer running."""
    tokens = {n for n in driver.roots() if (pid := owner_pid(n)) is not None and not alive(pid)}
    for name in netns.names(PREFIX):
        pid = owner_pid(name)
        if pid is not None and not alive(pid):
            tokens.add("-".join(name.split("-", 3)[:3]))
    removed: list[str] = []
    for token in sorted(tokens):
        removed += sweep(driver, token)
    return removed
