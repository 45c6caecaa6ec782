"""How a supervisor starts slice processes. Isolation plugs in here.

The executor only asks a :class:`Spawner` to start a :class:`SliceLaunch`; the local
spawner starts a plain child process in its own session. An isolating spawner
(cgroups, namespaces) implements the same interface, so the runtime does not change.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class SliceLaunch:
    """One slice to start: its command, the fds it inherits, its resource request."""

    slice_id: str
    herd: str
    argv: tuple[str, ...]
    pass_fds: tuple[int, ...]
    cwd: str
    env: Mapping[str, str] = field(default_factory=dict)
    cpu_millis: int | None = None
    memory_bytes: int | None = None
    # For isolating spawners: a pids limit, and the directories the slice may see in its
    # own mount namespace (read-only: repository, input data; writable: the run dir).
    pids: int | None = None
    bind_ro: tuple[str, ...] = ()
    bind_rw: tuple[str, ...] = ()


class SliceProcess(Protocol):
    pid: int

    def exit_reason(self) -> str | None:
        """Why the slice ended when the spawner knows better than its exit status
        (``OOMKilled``); None otherwise."""
        ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...

    def terminate(self) -> None: ...


class Spawner(Protocol):
    def spawn(self, launch: SliceLaunch) -> SliceProcess: ...

    def cleanup(self) -> None: ...


class LocalProcess:
    """A slice started as a plain child process, in its own process group."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def terminate(self) -> None:
        """Ask the slice to finish (SIGTERM): a stream's source ends its stream."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the slice and anything it started (its whole process group)."""
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.pid, signal.SIGKILL)

    def exit_reason(self) -> str | None:
        """A local slice has no cgroup: its exit status is all there is to know."""
        return None


class LocalSpawner:
    """No isolation: for development and `runi run --no-isolation`."""

    def spawn(self, launch: SliceLaunch) -> LocalProcess:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            **launch.env,
        }
        popen = subprocess.Popen(
            launch.argv,
            pass_fds=launch.pass_fds,
            cwd=launch.cwd,
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
        )
        return LocalProcess(popen)

    def cleanup(self) -> None:
        """Nothing to remove: a local slice leaves no cgroup or namespace behind."""
