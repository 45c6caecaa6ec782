"""cgroups: one driver interface, three backends (v2, v1, hybrid) chosen by detection.

A run's cgroups live at the top of each hierarchy, under ``runink-<pid>-<n>`` (the
owner's pid, so a later start can remove what a killed supervisor left behind):
``runink-<pid>-<n>/<herd>`` carries the herd quota, ``.../<herd>/<slice>`` the
slice's ``@requires``. On a hybrid host the memory, cpu and pids limits are v1 files
and the unified (v2) hierarchy tracks and kills the slice's processes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from dataclasses import dataclass

CONTROLLERS = ("memory", "cpu", "pids")
V1_CONTROLLERS = frozenset(
    {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio"}
    | {"blkio", "perf_event", "hugetlb", "pids", "rdma", "misc"}
)
CPU_PERIOD_US = 100_000
PREFIX = "runink-"


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy: where, which version, which controllers."""

    path: str
    version: int
    controllers: frozenset[str]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one cgroup; None means unlimited."""

    cpu_millis: int | None = None
    memory_bytes: int | None = None
    pids: int | None = None


class CgroupError(Exception):
    """A cgroup could not be created, limited, joined or removed."""


def mounted_hierarchies(mountinfo: str = "/proc/self/mountinfo") -> tuple[Hierarchy, ...]:
    """Every cgroup (v1) and cgroup2 mount of this host, first mount of each wins."""
    found: list[Hierarchy] = []
    seen: set[frozenset[str] | str] = set()
    try:
        with open(mountinfo) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ()
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3 or fields[3] != "/":
            continue
        path, fstype, options = fields[4], extra[0], extra[2].split(",")
        if fstype == "cgroup2" and "v2" not in seen:
            seen.add("v2")
            found.append(Hierarchy(path, 2, _v2_controllers(path)))
        elif fstype == "cgroup":
            controllers = frozenset(o for o in options if o in V1_CONTROLLERS)
            if controllers and controllers not in seen:
                seen.add(controllers)
                found.append(Hierarchy(path, 1, controllers))
    return tuple(found)


def _v2_controllers(path: str) -> frozenset[str]:
    try:
        with open(os.path.join(path, "cgroup.controllers")) as handle:
            return frozenset(handle.read().split())
    except OSError:
        return frozenset()


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except OSError as exc:
        raise CgroupError(f"cannot write {value!r} to {path}: {exc.strerror}") from exc


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def _counter(text: str, key: str) -> int:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


class CgroupDriver:
    """Creates, limits, inspects and removes the cgroups of a run (relative paths)."""

    version = "none"

    def __init__(self, hierarchies: tuple[Hierarchy, ...]) -> None:
        self.hierarchies = hierarchies
        self.by_controller: dict[str, Hierarchy] = {}
        for hierarchy in hierarchies:
            for controller in hierarchy.controllers:
                self.by_controller.setdefault(controller, hierarchy)
        unified = [h for h in hierarchies if h.version == 2]
        self.unified: Hierarchy | None = unified[0] if unified else None

    @property
    def used(self) -> tuple[Hierarchy, ...]:
        """The hierarchies a slice joins: one per wanted controller, and the unified one."""
        wanted = {
            self.by_controller[c] for c in (*CONTROLLERS, "cpuacct") if c in self.by_controller
        }
        if self.unified is not None:
            wanted.add(self.unified)
        return tuple(h for h in self.hierarchies if h in wanted)

    @property
    def tracking(self) -> Hierarchy | None:
        """Where the slice's processes are listed and killed."""
        if self.unified is not None:
            return self.unified
        return self.by_controller.get("pids") or self.by_controller.get("memory")

    def missing(self, controllers: tuple[str, ...] = CONTROLLERS) -> list[str]:
        """The wanted controllers this host does not offer."""
        return [c for c in controllers if c not in self.by_controller]

    def create(self, rel: str, limits: Limits) -> None:
        """Create ``rel`` in every used hierarchy and apply ``limits``."""
        for hierarchy in self.used:
            path = os.path.join(hierarchy.path, rel)
            if hierarchy.version == 2:
                self._enable_controllers(hierarchy, rel)
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                raise CgroupError(f"cannot create cgroup {path}: {exc.strerror}") from exc
        self._limit(rel, limits)

    def _enable_controllers(self, hierarchy: Hierarchy, rel: str) -> None:
        """v2: a child may use a controller only when every ancestor delegates it."""
        wanted = [c for c in CONTROLLERS if self.by_controller.get(c) is hierarchy]
        if not wanted:
            return
        parts = rel.split("/")
        for depth in range(len(parts)):
            parent = os.path.join(hierarchy.path, *parts[:depth])
            os.makedirs(parent, exist_ok=True)
            enabled = set(_read(os.path.join(parent, "cgroup.subtree_control")).split())
            for controller in wanted:
                if controller not in enabled:
                    _write(os.path.join(parent, "cgroup.subtree_control"), f"+{controller}")

    def _limit(self, rel: str, limits: Limits) -> None:
        memory = self.by_controller.get("memory")
        if memory is not None and limits.memory_bytes is not None:
            base = os.path.join(memory.path, rel)
            if memory.version == 2:
                _write(os.path.join(base, "memory.max"), str(limits.memory_bytes))
                # Without this the kernel swaps instead of OOM-killing at the limit.
                if os.path.exists(os.path.join(base, "memory.swap.max")):
                    _write(os.path.join(base, "memory.swap.max"), "0")
            else:
                _write(os.path.join(base, "memory.limit_in_bytes"), str(limits.memory_bytes))
                memsw = os.path.join(base, "memory.memsw.limit_in_bytes")
                if os.path.exists(memsw):
                    _write(memsw, str(limits.memory_bytes))
        cpu = self.by_controller.get("cpu")
        if cpu is not None and limits.cpu_millis is not None:
            base = os.path.join(cpu.path, rel)
            quota = max(1000, limits.cpu_millis * CPU_PERIOD_US // 1000)
            if cpu.version == 2:
                _write(os.path.join(base, "cpu.max"), f"{quota} {CPU_PERIOD_US}")
            else:
                _write(os.path.join(base, "cpu.cfs_period_us"), str(CPU_PERIOD_US))
                _write(os.path.join(base, "cpu.cfs_quota_us"), str(quota))
        pids = self.by_controller.get("pids")
        if pids is not None and limits.pids is not None:
            _write(os.path.join(pids.path, rel, "pids.max"), str(limits.pids))

    def procs_files(self, rel: str) -> tuple[str, ...]:
        """The ``cgroup.procs`` files a process writes its pid to, to join ``rel``."""
        return tuple(os.path.join(h.path, rel, "cgroup.procs") for h in self.used)

    def oom_kills(self, rel: str) -> int:
        """How many processes of ``rel`` the OOM killer has killed."""
        memory = self.by_controller.get("memory")
        if memory is None:
            return 0
        base = os.path.join(memory.path, rel)
        if memory.version == 2:
            return _counter(_read(os.path.join(base, "memory.events")), "oom_kill")
        return _counter(_read(os.path.join(base, "memory.oom_control")), "oom_kill")

    def cpu_usage_usec(self, rel: str) -> int | None:
        """CPU time used by ``rel`` so far, in microseconds (None: not accounted)."""
        cpu = self.by_controller.get("cpu")
        if cpu is not None and cpu.version == 2:
            return _counter(_read(os.path.join(cpu.path, rel, "cpu.stat")), "usage_usec")
        cpuacct = self.by_controller.get("cpuacct")
        if cpuacct is not None:
            text = _read(os.path.join(cpuacct.path, rel, "cpuacct.usage")).strip()
            return int(text) // 1000 if text else None
        return None

    def pids(self, rel: str) -> list[int]:
        """Every process in ``rel`` and below."""
        tracking = self.tracking
        if tracking is None:
            return []
        found: list[int] = []
        for dirpath, _, files in os.walk(os.path.join(tracking.path, rel)):
            if "cgroup.procs" in files:
                found += [int(p) for p in _read(os.path.join(dirpath, "cgroup.procs")).split()]
        return found

    def kill(self, rel: str) -> None:
        """SIGKILL every process in ``rel`` and below."""
        tracking = self.tracking
        if tracking is None:
            return
        if tracking.version == 2:
            kill_file = os.path.join(tracking.path, rel, "cgroup.kill")
            if os.path.exists(kill_file):
                with contextlib.suppress(CgroupError):
                    _write(kill_file, "1")
                    return
        # No cgroup.kill: kill what is listed until nothing is (forks race the loop).
        for _ in range(100):
            pids = self.pids(rel)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)

    def remove(self, rel: str, timeout: float = 5.0) -> None:
        """Kill what runs in ``rel``, then remove it and its children in every hierarchy."""
        self.kill(rel)
        deadline = time.monotonic() + timeout
        for hierarchy in self.used:
            top = os.path.join(hierarchy.path, rel)
            if not os.path.isdir(top):
                continue
            dirs = [d for d, _, _ in os.walk(top)]
            for path in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
                while True:
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as exc:
                        # Busy: killed processes take a moment to leave their cgroup.
                        if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                            raise CgroupError(
                                f"cannot remove cgroup {path}: {exc.strerror}"
                            ) from exc
                        self.kill(rel)
                        time.sleep(0.005)

    def roots(self) -> set[str]:
        """Names of every run root (``runink-<pid>-<n>``) in any used hierarchy."""
        names: set[str] = set()
        for hierarchy in self.used:
            with contextlib.suppress(OSError):
                names |= {n for n in os.listdir(hierarchy.path) if n.startswith(PREFIX)}
        return names


class V2Driver(CgroupDriver):
    """Pure cgroup v2: one unified hierarchy holds every controller."""

    version = "v2"


class V1Driver(CgroupDriver):
    """Pure cgroup v1: one hierarchy per controller (or co-mounted group)."""

    version = "v1"


class HybridDriver(CgroupDriver):
    """v1 controllers plus the unified hierarchy, which tracks and kills processes."""

    version = "hybrid"


def detect(hierarchies: tuple[Hierarchy, ...] | None = None) -> CgroupDriver:
    """The driver for this host's cgroup layout."""
    found = mounted_hierarchies() if hierarchies is None else hierarchies
    has_v1 = any(h.version == 1 and h.controllers & {*CONTROLLERS, "cpuacct"} for h in found)
    has_v2 = any(h.version == 2 for h in found)
    if has_v1 and has_v2:
        return HybridDriver(found)
    if has_v1:
        return V1Driver(found)
    if has_v2:
        return V2Driver(found)
    return CgroupDriver(found)
