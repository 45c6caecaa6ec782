"""What this host offers slices (``runi doctor``): cgroups, namespaces, netns, pipes.

Namespaces and network namespaces are tried for real, in a child process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agent.isolation.cgroups import CONTROLLERS, detect
from agent.isolation.policy import (
    NAMESPACES,
    HerdIsolation,
    HostSupport,
    IsolationError,
    grant,
)


@dataclass(frozen=True)
class HostReport:
    """Everything ``runi doctor`` reports, as plain data."""

    kernel: str
    root: bool
    cgroup_version: str
    hierarchies: tuple[dict[str, Any], ...]
    controllers: dict[str, str]
    cgroup_kill: bool
    namespaces: dict[str, str]
    user_namespaces: dict[str, Any]
    netns: str
    pipe_max_size: int
    tools: dict[str, str | None]
    herds: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _probe() -> dict[str, str]:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agent.isolation.probe"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        result: dict[str, str] = json.loads(done.stdout)
        return result
    except (subprocess.SubprocessError, ValueError) as exc:
        return {kind: f"probe failed: {exc}" for kind in (*NAMESPACES, "user", "netns_pyroute2")}


def _read_int(path: str) -> int:
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return 0


def doctor(herds: Sequence[HerdIsolation] = ()) -> HostReport:
    """Probe this host, and say what each of ``herds`` would get on it."""
    driver = detect()
    probe = _probe()
    unified = driver.unified
    host = HostSupport(
        root=os.geteuid() == 0,
        cgroup_version=driver.version,
        controllers=tuple(c for c in CONTROLLERS if c in driver.by_controller),
        namespaces=tuple(n for n in NAMESPACES if probe.get(n) == "ok"),
        netns=probe.get("netns_pyroute2") == "ok",
    )
    herd_reports = []
    for herd in herds:
        entry: dict[str, Any] = {
            "name": herd.name,
            "isolation": herd.mode,
            "quota": asdict(herd.quota),
            "network": f"egress to {len(herd.egress)} destination(s)" if herd.egress else "none",
            "secrets": sorted(herd.secrets),
        }
        try:
            given = grant(herd, host)
        except IsolationError as exc:
            entry.update(runs=False, reason=exc.message)
        else:
            entry.update(
                runs=True,
                namespaces=list(given.namespaces),
                controllers=list(given.controllers),
                skipped=list(given.skipped),
            )
        herd_reports.append(entry)
    return HostReport(
        kernel=os.uname().release,
        root=host.root,
        cgroup_version=driver.version,
        hierarchies=tuple(
            {"path": h.path, "version": h.version, "controllers": sorted(h.controllers)}
            for h in driver.hierarchies
        ),
        controllers={
            c: f"v{h.version} {h.path}" for c in CONTROLLERS if (h := driver.by_controller.get(c))
        },
        cgroup_kill=unified is not None and _kernel_at_least(5, 14),
        namespaces={n: probe.get(n, "unknown") for n in NAMESPACES},
        user_namespaces={
            "max": _read_int("/proc/sys/user/max_user_namespaces"),
            "unshare": probe.get("user", "unknown"),
        },
        netns=probe.get("netns_pyroute2", "unknown"),
        pipe_max_size=_read_int("/proc/sys/fs/pipe-max-size"),
        tools={t: shutil.which(t) for t in ("bwrap", "unshare", "ip")},
        herds=tuple(herd_reports),
    )


def _kernel_at_least(major: int, minor: int) -> bool:
    """cgroup.kill exists from Linux 5.14 (and only in non-root cgroups, so ask uname)."""
    parts = os.uname().release.split(".")
    try:
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (IndexError, ValueError):
        return False
