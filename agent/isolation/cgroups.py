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
PAGE = os.sysconf("SC_PAGE_SIZE")
# v1 reads "no limit" back as the largest page-aligned 64-bit value; anything this big is none.
UNLIMITED_FLOOR = 1 << 62
PF_EXITING = 0x4  # include/linux/sched.h


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
        #: Every cgroup this driver created and not yet removed, with the limits it was given:
        #: what self-heal holds the host to (anything else under a herd is a stranger's).
        self.created: dict[str, Limits] = {}

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
        # Recorded first, so a sweep never sees the directory without knowing it is ours.
        self.created[rel] = limits
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

    def procs(self, rel: str) -> set[int]:
        """The processes directly in ``rel`` (not below it), in any used hierarchy."""
        found: set[int] = set()
        for hierarchy in self.used:
            text = _read(os.path.join(hierarchy.path, rel, "cgroup.procs"))
            found |= {int(p) for p in text.split()}
        return found

    def children(self, rel: str) -> set[str]:
        """Every cgroup below ``rel`` (relative paths, any depth), in any used hierarchy."""
        found: set[str] = set()
        for hierarchy in self.used:
            top = os.path.join(hierarchy.path, rel)
            for dirpath, _, _ in os.walk(top):
                if dirpath != top:
                    found.add(os.path.relpath(dirpath, hierarchy.path))
        return found

    def kill_all(self, rel: str) -> set[int]:
        """SIGKILL every process in ``rel`` and below in every used hierarchy (one pass);
        a process put in a v1 hierarchy only is out of :meth:`kill`'s sight."""
        killed: set[int] = set()
        for name in (rel, *self.children(rel)):
            for pid in self.procs(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
        return killed

    def holds(self, rel: str, pid: int) -> bool | None:
        """Whether process ``pid`` is in ``rel`` in every used hierarchy (None: it is gone)."""
        text = _read(f"/proc/{pid}/cgroup")
        if not text:
            return None
        where: dict[int | frozenset[str], str] = {}
        for line in text.splitlines():
            number, _, rest = line.partition(":")
            names, _, path = rest.partition(":")
            key: int | frozenset[str] = (
                0 if number == "0" and not names else frozenset(names.split(",")) & V1_CONTROLLERS
            )
            where[key] = path.rstrip("/")
        if _exiting(pid):  # v1 shows an exiting process in "/": not a move
            return None
        for hierarchy in self.used:
            now = where.get(0 if hierarchy.version == 2 else hierarchy.controllers)
            # A cgroup namespace shows paths from its own root: compare the tail.
            if now is not None and now != f"/{rel}" and not now.endswith(f"/{rel}"):
                return False
        return True

    def drift(self, rel: str, wanted: Limits) -> list[str]:
        """The limit files of ``rel`` whose value is not ``wanted`` ("file: now, want W");
        a file that cannot be read (no controller, cgroup gone) is not drift."""
        found: list[str] = []
        for name, now, want in self._limit_values(rel, wanted):
            if now is not None and now != want:
                found.append(f"{name}: {now}, want {want}")
        return found

    def _limit_values(
        self, rel: str, wanted: Limits
    ) -> list[tuple[str, int | str | None, int | str | None]]:
        """(file, current value, wanted value) per limit file, normalised as the kernel
        stores them: memory in whole pages, "max" for no limit, cpu as quota/period."""
        values: list[tuple[str, int | str | None, int | str | None]] = []
        memory = self.by_controller.get("memory")
        if memory is not None:
            want_memory = (
                None if wanted.memory_bytes is None else wanted.memory_bytes // PAGE * PAGE
            )
            base = os.path.join(memory.path, rel)
            names = ["memory.max"] if memory.version == 2 else ["memory.limit_in_bytes"]
            if memory.version == 1 and os.path.exists(
                os.path.join(base, "memory.memsw.limit_in_bytes")
            ):
                names.append("memory.memsw.limit_in_bytes")
            for name in names:
                values.append((name, _number(_read(os.path.join(base, name))), _max(want_memory)))
        cpu = self.by_controller.get("cpu")
        if cpu is not None:
            want_cpu = (
                "max"
                if wanted.cpu_millis is None
                else f"{max(1000, wanted.cpu_millis * CPU_PERIOD_US // 1000)} {CPU_PERIOD_US}"
            )
            base = os.path.join(cpu.path, rel)
            if cpu.version == 2:
                quota, _, period = _read(os.path.join(base, "cpu.max")).strip().partition(" ")
                now = None if not quota else "max" if quota == "max" else f"{quota} {period}"
                values.append(("cpu.max", now, want_cpu))
            else:
                quota = _read(os.path.join(base, "cpu.cfs_quota_us")).strip()
                period = _read(os.path.join(base, "cpu.cfs_period_us")).strip()
                now = None if not quota else "max" if quota == "-1" else f"{quota} {period}"
                values.append(("cpu.cfs_quota_us", now, want_cpu))
        pids = self.by_controller.get("pids")
        if pids is not None:
            now_pids = _number(_read(os.path.join(pids.path, rel, "pids.max")))
            values.append(("pids.max", now_pids, _max(wanted.pids)))
        return values

    def set_limits(self, rel: str, limits: Limits) -> None:
        """Put every limit of ``rel`` to ``limits``, a None field back to no limit."""
        memory = self.by_controller.get("memory")
        if memory is not None:
            base = os.path.join(memory.path, rel)
            if memory.version == 2:
                _write(os.path.join(base, "memory.max"), _v2(limits.memory_bytes))
            else:
                value = "-1" if limits.memory_bytes is None else str(limits.memory_bytes)
                files = [os.path.join(base, "memory.limit_in_bytes")]
                memsw = os.path.join(base, "memory.memsw.limit_in_bytes")
                if os.path.exists(memsw):
                    files.append(memsw)
                try:
                    for path in files:
                        _write(path, value)
                except CgroupError:
                    # v1 keeps memsw >= memory: raising both means memsw first.
                    for path in reversed(files):
                        _write(path, value)
        cpu = self.by_controller.get("cpu")
        if cpu is not None:
            base = os.path.join(cpu.path, rel)
            quota = (
                None
                if limits.cpu_millis is None
                else max(1000, limits.cpu_millis * CPU_PERIOD_US // 1000)
            )
            if cpu.version == 2:
                _write(os.path.join(base, "cpu.max"), f"{_v2(quota)} {CPU_PERIOD_US}")
            else:
                _write(os.path.join(base, "cpu.cfs_period_us"), str(CPU_PERIOD_US))
                _write(
                    os.path.join(base, "cpu.cfs_quota_us"), "-1" if quota is None else str(quota)
                )
        pids = self.by_controller.get("pids")
        if pids is not None:
            _write(os.path.join(pids.path, rel, "pids.max"), _v2(limits.pids))

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
        for name in [n for n in list(self.created) if n == rel or n.startswith(rel + "/")]:
            self.created.pop(name, None)

    def roots(self) -> set[str]:
        """Names of every run root (``runink-<pid>-<n>``) in any used hierarchy."""
        names: set[str] = set()
        for hierarchy in self.used:
            with contextlib.suppress(OSError):
                names |= {n for n in os.listdir(hierarchy.path) if n.startswith(PREFIX)}
        return names


def _exiting(pid: int) -> bool:
    """Whether ``pid`` is gone or on its way out (PF_EXITING in /proc/<pid>/stat)."""
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    return len(fields) < 7 or int(fields[6]) & PF_EXITING != 0


def _number(text: str) -> int | str | None:
    """A limit file's value: an int, "max" for no limit, None when unreadable."""
    text = text.strip()
    if not text:
        return None
    if text == "max" or text == "-1":
        return "max"
    try:
        value = int(text)
    except ValueError:
        return text
    return "max" if value >= UNLIMITED_FLOOR else value


def _max(value: int | None) -> int | str:
    return "max" if value is None else value


def _v2(value: int | None) -> str:
    return "max" if value is None else str(value)


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
