"""What isolation a herd asks for, and what this host can give it.

``strict`` (the default) refuses to run a herd when the host lacks anything it needs
and says exactly what; ``best-effort`` runs without it and reports what was skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.isolation.cgroups import CONTROLLERS, CgroupDriver, Limits
from runink.repo.herd import Herd

NAMESPACES = ("pid", "mnt", "uts", "ipc", "net")
MODES = ("strict", "best-effort")
SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
NO_ISOLATION_HINT = (
    "run `runi doctor` to see what this host offers; set `isolation: best-effort` on the "
    "herd, or use `runi run --no-isolation` to debug without isolation"
)


class IsolationError(Exception):
    """Isolation cannot be given as asked; ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str = NO_ISOLATION_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class HerdIsolation:
    """One herd's confinement: quota, network policy, secret values, strictness."""

    name: str
    quota: Limits = field(default_factory=Limits)
    egress: tuple[tuple[str, int], ...] = ()
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    mode: str = "strict"

    @classmethod
    def from_herd(cls, herd: Herd, secrets: Mapping[str, str] | None = None) -> HerdIsolation:
        """A herd's isolation from its model, with the secret values given for it."""
        return cls(
            name=herd.name,
            quota=Limits(herd.quota.cpu_millis, herd.quota.memory_bytes, herd.quota.pids),
            egress=tuple((e.address, e.port) for e in herd.network.egress),
            secrets=dict(secrets or {}),
            mode=herd.isolation if herd.isolation in MODES else "strict",
        )


@dataclass(frozen=True)
class HostSupport:
    """What confinement this host offers the supervisor."""

    root: bool
    cgroup_version: str
    controllers: tuple[str, ...]
    namespaces: tuple[str, ...]
    netns: bool


def host_support(driver: CgroupDriver) -> HostSupport:
    """Probe this host cheaply (no process is started)."""
    return HostSupport(
        root=os.geteuid() == 0,
        cgroup_version=driver.version,
        controllers=tuple(c for c in CONTROLLERS if c in driver.by_controller),
        namespaces=tuple(n for n in NAMESPACES if os.path.exists(f"/proc/self/ns/{n}")),
        netns=os.path.isdir("/run") and _has_pyroute2(),
    )


def _has_pyroute2() -> bool:
    try:
        import pyroute2  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Grant:
    """What a herd gets on this host: namespaces, cgroup controllers, and what is skipped."""

    namespaces: tuple[str, ...]
    controllers: tuple[str, ...]
    network: bool
    skipped: tuple[str, ...]


def grant(herd: HerdIsolation, host: HostSupport) -> Grant:
    """What ``herd`` gets here; raises :class:`IsolationError` when strict and short."""
    missing: list[str] = []
    if not host.root:
        missing.append("root privileges (cgroups and namespaces are set up as root)")
    lacking = [c for c in CONTROLLERS if c not in host.controllers]
    if lacking:
        missing.append(
            f"cgroup controller(s) {', '.join(lacking)} (cgroup layout: {host.cgroup_version})"
        )
    missing += [f"{n} namespaces" for n in NAMESPACES if n not in host.namespaces]
    if not host.netns:
        missing.append("network namespaces via pyroute2 (not installed, or no /run)")
    if missing and herd.mode == "strict":
        raise IsolationError(
            f"herd {herd.name!r} needs strict isolation, but this host lacks: " + "; ".join(missing)
        )
    if not host.root:
        return Grant((), (), False, tuple(missing))
    namespaces = tuple(n for n in NAMESPACES if n in host.namespaces)
    network = host.netns and "net" in namespaces
    return Grant(
        namespaces if network else tuple(n for n in namespaces if n != "net"),
        host.controllers,
        network,
        tuple(missing),
    )


def check_secret_names(herd: str, names: Mapping[str, str]) -> None:
    """Secret names become file names: refuse anything that is not a plain name."""
    for name in names:
        if not SECRET_NAME.match(name):
            raise IsolationError(
                f"herd {herd!r}: secret name {name!r} is not a plain name",
                "use letters, digits, '_', '.' and '-'",
            )
