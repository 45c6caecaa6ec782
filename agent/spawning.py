"""One isolating spawner shared by every run of the agent, seen by each run as its own.

The forkserver behind :class:`IsolatedSpawner` is one per process; runs are
concurrent. Each run gets a :class:`RunSpawner` whose ``cleanup`` ends only that
run's slices (and removes their cgroups), and whose calls into the shared spawner are
serialised, so a reply or exit the forkserver reports is never lost between threads.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time

from agent.isolation import IsolatedSpawner
from agent.isolation.cgroups import CgroupError
from runink.runtime.spawn import SliceLaunch, SliceProcess, Spawner


class _Process:
    """A slice of a shared IsolatedSpawner; every pump happens under the shared lock."""

    def __init__(self, inner: SliceProcess, spawner: IsolatedSpawner, lock: threading.Lock):
        self.inner = inner
        self.pid = inner.pid
        self._spawner = spawner
        self._lock = lock

    def exit_reason(self) -> str | None:
        return self.inner.exit_reason()

    def poll(self) -> int | None:
        with self._lock:
            return self.inner.poll()

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                code = self.inner.poll()
                if code is None:
                    self._spawner.pump(0.02)
                    code = self.inner.poll()
            if code is not None:
                return code
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.005)  # let other runs' threads take the lock

    def kill(self) -> None:
        with self._lock:
            self.inner.kill()

    def terminate(self) -> None:
        self.inner.terminate()

    def cpu_usage_usec(self) -> int | None:
        usage = getattr(self.inner, "cpu_usage_usec", None)
        return usage() if callable(usage) else None


class RunSpawner:
    """The spawner one run uses: shared forkserver, cleanup limited to this run."""

    def __init__(self, shared: Spawner, lock: threading.Lock) -> None:
        self.shared = shared
        self.lock = lock
        self.processes: list[_Process] = []

    def spawn(self, launch: SliceLaunch) -> SliceProcess:
        with self.lock:
            inner = self.shared.spawn(launch)
        if not isinstance(self.shared, IsolatedSpawner):
            self.processes.append(_Plain(inner))
            return inner
        process = _Process(inner, self.shared, self.lock)
        self.processes.append(process)
        return process

    def cleanup(self) -> None:
        """Kill what of this run still runs; remove its slices' cgroups."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5.0)
        if isinstance(self.shared, IsolatedSpawner):
            driver = self.shared.driver
            for process in self.processes:
                cgroup = getattr(process.inner, "cgroup", None)
                if cgroup:
                    with contextlib.suppress(CgroupError, OSError):
                        driver.remove(cgroup)
        self.processes.clear()


class _Plain(_Process):
    """A LocalSpawner's process (no shared forkserver to pump)."""

    def __init__(self, inner: SliceProcess) -> None:
        self.inner = inner
        self.pid = inner.pid

    def poll(self) -> int | None:
        return self.inner.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.inner.wait(timeout)

    def kill(self) -> None:
        self.inner.kill()
