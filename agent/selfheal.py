"""Self-heal: the agent undoes what was done by hand under its herds' cgroups.

Desired state wins, as in Argo CD's self-heal. Each sweep looks at every herd cgroup
the agent made (``runink-<pid>-<n>/<herd>``) and:

- kills strangers: a process in the herd cgroup itself, a process in a slice's cgroup
  that is not that slice or one of its descendants, and every process of a cgroup under
  the herd the agent did not create (that cgroup is then removed);
- puts limits changed by hand (memory, cpu, pids; v2 or v1 files) back to what the
  agent gave the cgroup from the Plan and the herd quota;
- kills a slice that was moved out of its cgroup (all of its processes): its run fails
  and the pipeline's restart with backoff brings it back, confined again.

A suspended herd or pipeline is left as it is until the suspend is lifted. Every
correction is logged (pid, command line, cgroup), counted in
``runink_selfheal_total{herd,kind}`` and noted in the pipeline's next run record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from agent.isolation import IsolatedProcess, IsolatedSpawner
from agent.isolation.cgroups import CgroupError, Limits
from runink.observability import metrics

logger = logging.getLogger(__name__)

STRANGER = "stranger"
LIMITS = "limits"
MOVED = "moved"
MAX_NOTES = 10  # per pipeline between two run reports: the rest is in the log


@dataclass(frozen=True)
class Suspended:
    """What drift correction must leave alone: suspended herds and pipelines."""

    herds: frozenset[str] = frozenset()
    pipelines: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Healed:
    """One correction a sweep made."""

    kind: str  # STRANGER, LIMITS or MOVED
    herd: str
    pipeline: str  # "" for the herd's own cgroup or a cgroup the agent did not create
    cgroup: str
    detail: str  # the process (pid and command line), or the limits put back

    def message(self) -> str:
        """One line for the log and the run record."""
        if self.kind == STRANGER:
            return (
                f"self-heal: killed {self.detail}, not started by Runink, in cgroup {self.cgroup}"
            )
        if self.kind == MOVED:
            return (
                f"self-heal: slice cgroup {self.cgroup} lost {self.detail}, moved out by hand; "
                "the slice was killed and restarts with its run"
            )
        return (
            f"self-heal: limits of cgroup {self.cgroup} changed by hand, put back ({self.detail})"
        )


class SelfHeal:
    """Sweeps the cgroups of one agent's spawner; ``sweep()`` is one pass.

    ``lock`` is the lock every spawn holds: while the sweep holds it, each slice
    cgroup's process is known to the spawner, so a starting slice is never taken for a
    stranger. ``suspended`` says, at each sweep, what to leave alone.
    """

    def __init__(
        self,
        spawner: IsolatedSpawner,
        lock: threading.Lock,
        suspended: Callable[[], Suspended],
    ) -> None:
        self.spawner = spawner
        self.driver = spawner.driver
        self._lock = lock
        self._suspended = suspended
        self._strange: set[str] = set()  # cgroups to remove once their processes are gone
        self._failed: set[str] = set()  # cgroups whose limits could not be put back (logged)
        self._notes: dict[tuple[str, str], list[str]] = {}
        self._notes_lock = threading.Lock()
        self._kids: dict[int, list[int]] = {}
        self._trees: dict[int, list[int]] = {}  # per sweep: a slice's pid -> its processes
        self._sweeping = threading.Lock()  # one sweep at a time
        self.sweeps = 0

    def sweep(self) -> list[Healed]:
        """One pass over every herd cgroup; returns what it corrected."""
        with self._sweeping:
            suspended = self._suspended()
            # Read /proc once, outside the spawn lock; each pid from it is checked again live.
            self._kids = _children_map()
            self._trees = {}
            with self._lock:
                # Exits the forkserver reported go first: a reaped slice's pid may be reused.
                self.spawner.pump(0)
                healed = self._scan(suspended)
            self._remove_strange()
            self.sweeps += 1
        for item in healed:
            logger.warning(item.message(), extra={"herd": item.herd, "pipeline": item.pipeline})
            metrics.SELFHEAL.labels(herd=item.herd, kind=item.kind).inc()
            if item.pipeline:
                with self._notes_lock:
                    notes = self._notes.setdefault((item.herd, item.pipeline), [])
                    if len(notes) < MAX_NOTES:
                        notes.append(item.message())
        return healed

    def notes(self, herd: str, pipeline: str) -> tuple[str, ...]:
        """The corrections made to ``pipeline`` since the last call (for its run record)."""
        with self._notes_lock:
            return tuple(self._notes.pop((herd, pipeline), ()))

    # --- one pass (under the spawn lock) -----------------------------------------------

    def _scan(self, suspended: Suspended) -> list[Healed]:
        created = dict(self.driver.created)
        running = {p.cgroup: p for p in self.spawner.running()}
        healed: list[Healed] = []
        prefix = f"{self.spawner.token}/"
        for herd_cgroup in sorted(created):
            if not herd_cgroup.startswith(prefix) or herd_cgroup.count("/") != 1:
                continue
            herd = herd_cgroup.split("/", 1)[1]
            if herd in suspended.herds:
                continue
            healed += self._strangers(herd, herd_cgroup, created, running, suspended)
            for cgroup in sorted(c for c in created if c.startswith(herd_cgroup + "/")):
                pipeline = _pipeline(cgroup, running.get(cgroup), suspended)
                if pipeline not in suspended.pipelines:
                    healed += self._limits(herd, pipeline, cgroup, created[cgroup])
            healed += self._limits(herd, "", herd_cgroup, created[herd_cgroup])
        for cgroup, process in running.items():
            herd = cgroup.split("/")[1] if cgroup.count("/") == 2 else ""
            pipeline = _slice_pipeline(process)
            if (
                cgroup in created
                and herd not in suspended.herds
                and pipeline not in suspended.pipelines
            ):
                healed += self._moved(herd, pipeline, process)
        return healed

    def _strangers(
        self,
        herd: str,
        herd_cgroup: str,
        created: dict[str, Limits],
        running: dict[str, IsolatedProcess],
        suspended: Suspended,
    ) -> list[Healed]:
        healed: list[Healed] = []
        # Nothing of the agent's ever runs in the herd cgroup itself: its slices join
        # their own cgroup straight from the forkserver's.
        for pid in sorted(self.driver.procs(herd_cgroup)):
            healed += self._kill_stranger(herd, "", herd_cgroup, pid)
        grant = self.spawner.grants.get(herd)
        # In a PID namespace every process of a slice descends from it; without one a
        # slice's daemonised child would not, so the slice's cgroup is not judged.
        judge_slices = grant is not None and "pid" in grant.namespaces
        for cgroup in sorted(self.driver.children(herd_cgroup)):
            if cgroup in created:
                process = running.get(cgroup)
                pipeline = _pipeline(cgroup, process, suspended)
                if not judge_slices or pipeline in suspended.pipelines:
                    continue
                tree = set() if process is None else set(self._tree(process.pid))
                for pid in sorted(self.driver.procs(cgroup) - tree):
                    if process is None or not _descends(pid, process.pid):
                        healed += self._kill_stranger(herd, pipeline, cgroup, pid)
            elif any(cgroup == s or cgroup.startswith(s + "/") for s in self._strange):
                # Known, not removed yet: whatever was put in meanwhile goes too.
                self.driver.kill_all(cgroup)
            else:
                healed += self._strange_cgroup(herd, cgroup)
        return healed

    def _strange_cgroup(self, herd: str, cgroup: str) -> list[Healed]:
        """A cgroup under the herd the agent did not create: kill all in it, then remove it."""
        pids = set(self.driver.procs(cgroup))
        for child in self.driver.children(cgroup):
            pids |= self.driver.procs(child)
        found = {pid: _describe(pid) for pid in sorted(pids)}
        self.driver.kill_all(cgroup)
        self._strange.add(cgroup)
        healed = [Healed(STRANGER, herd, "", cgroup, d) for d in found.values() if d is not None]
        return healed or [Healed(STRANGER, herd, "", cgroup, "no process (an empty cgroup)")]

    def _kill_stranger(self, herd: str, pipeline: str, cgroup: str, pid: int) -> list[Healed]:
        what = _describe(pid)
        if what is None:
            return []
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            return [Healed(STRANGER, herd, pipeline, cgroup, what)]
        return []

    def _limits(self, herd: str, pipeline: str, cgroup: str, wanted: Limits) -> list[Healed]:
        drift = self.driver.drift(cgroup, wanted)
        if not drift:
            self._failed.discard(cgroup)
            return []
        try:
            self.driver.set_limits(cgroup, wanted)
        except CgroupError as exc:
            if cgroup not in self._failed and cgroup in self.driver.created:
                self._failed.add(cgroup)
                logger.warning("self-heal: cannot put back the limits of %s: %s", cgroup, exc)
            return []
        self._failed.discard(cgroup)
        return [Healed(LIMITS, herd, pipeline, cgroup, "; ".join(drift))]

    def _moved(self, herd: str, pipeline: str, process: IsolatedProcess) -> list[Healed]:
        tree = self._tree(process.pid)
        moved = [pid for pid in tree if self.driver.holds(process.cgroup, pid) is False]
        if not moved:
            return []
        what = ", ".join(d for pid in moved if (d := _describe(pid)) is not None)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.kill()
        return [Healed(MOVED, herd, pipeline, process.cgroup, what or f"pid {moved[0]}")]

    def _tree(self, pid: int) -> list[int]:
        """``pid`` and its live descendants (a zombie is in no cgroup); each checked live,
        as a pid read from /proc before the sweep may since belong to another process."""
        if pid in self._trees:
            return self._trees[pid]
        found, todo = [pid], list(self._kids.get(pid, ()))
        while todo:
            child = todo.pop()
            found.append(child)
            todo += self._kids.get(child, ())
        tree = [p for p in found if _live(p) and (p == pid or _descends(p, pid))]
        self._trees[pid] = tree
        return tree

    def _remove_strange(self) -> None:
        """Remove the strangers' cgroups whose processes are gone (else: next sweep)."""
        for cgroup in sorted(self._strange, key=lambda c: c.count("/"), reverse=True):
            try:
                self.driver.remove(cgroup, timeout=0.5)
            except CgroupError:
                continue
            self._strange.discard(cgroup)


def _stat(pid: int) -> tuple[bytes, int] | None:
    """(state, parent pid) from /proc/<pid>/stat; None when the process is gone.

    Read straight from /proc: psutil's Process costs several reads per call, and a sweep
    asks this of every process of every slice."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
    except OSError:
        return None
    return (fields[0], int(fields[1])) if len(fields) > 1 else None


def _live(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in (b"Z", b"X")


def _descends(pid: int, ancestor: int) -> bool:
    for _ in range(1024):  # a bound, not a depth any tree reaches
        stat = _stat(pid)
        if stat is None or stat[1] <= 1:
            return False
        if stat[1] == ancestor:
            return True
        pid = stat[1]
    return False


def _children_map() -> dict[int, list[int]]:
    """Every process's children, from one read of /proc."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := _stat(int(name))) is not None:
            kids.setdefault(stat[1], []).append(int(name))
    return kids


def _describe(pid: int) -> str | None:
    """``pid N (command line)``; None when the process is gone (or a zombie)."""
    if not _live(pid):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return None
    command = b" ".join(argv).decode(errors="replace") or "?"
    return f"pid {pid} ({command[:200]})"


def _slice_pipeline(process: IsolatedProcess) -> str:
    """The pipeline of a slice: its id is ``<pipeline>/<step>``."""
    return process.slice_id.rsplit("/", 1)[0]


def _pipeline(cgroup: str, process: IsolatedProcess | None, suspended: Suspended) -> str:
    """The pipeline a slice cgroup belongs to: from its slice while it runs, else from the
    cgroup's name (``NNNN-<slice id>``, separators as '-') among suspended pipelines."""
    if process is not None:
        return _slice_pipeline(process)
    name = cgroup.rsplit("/", 1)[-1].split("-", 1)[-1]
    for pipeline in suspended.pipelines:
        if name.startswith(re.sub(r"[^A-Za-z0-9_.-]", "-", pipeline + "/")[:80]):
            return pipeline
    return ""
