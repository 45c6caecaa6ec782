"""IsolatedSpawner: starts slices through the forkserver, each in its cgroup and namespaces.

The supervisor side of isolation. It creates the cgroups (plain file writes), asks
the single-threaded forkserver for herd network namespaces and for each slice, and
follows the slices' exits, which the forkserver reports on the same socket. A slice
the cgroup OOM killer ended reports ``OOMKilled``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from agent.isolation import netns
from agent.isolation.cgroups import PREFIX, CgroupDriver, CgroupError, Limits, detect
from agent.isolation.leftovers import sweep, sweep_dead_owners
from agent.isolation.policy import (
    Grant,
    HerdIsolation,
    IsolationError,
    check_secret_names,
    grant,
    host_support,
)
from runink.runtime.spawn import SliceLaunch

# The slice module (run warm, by fork), and what its steps and sinks import as they start:
# forked with them loaded, a step slice starts on ~9 ms of CPU instead of ~20.
PRELOAD = (
    "runink.runtime.slice",
    "runink.runtime.steps",
    "runink.steps.builtin",
    "runink.contracts",
    "runink.runtime.connectors",
)
OOM_KILLED = "OOMKilled"
DEFAULT_NOFILE = 4096
STARTUP_TIMEOUT = 30.0
_instances = itertools.count()


class IsolatedProcess:
    """One isolated slice, as the executor sees it (pid, poll, wait, kill, terminate)."""

    def __init__(self, spawner: IsolatedSpawner, pid: int, cgroup: str, slice_id: str) -> None:
        self.spawner = spawner
        self.pid = pid
        self.cgroup = cgroup
        self.slice_id = slice_id
        self.returncode: int | None = None
        self.oom_killed = False

    def poll(self) -> int | None:
        if self.returncode is None:
            self.spawner.pump(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise subprocess.TimeoutExpired(self.slice_id, timeout or 0)
            self.spawner.pump(remaining if remaining is not None else 1.0)
        return self.returncode

    def terminate(self) -> None:
        """Ask the slice to finish (SIGTERM, forwarded to it by its parent)."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the slice and everything it started (its whole cgroup)."""
        if self.returncode is None:
            self.spawner.driver.kill(self.cgroup)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def exit_reason(self) -> str | None:
        """``OOMKilled`` when the cgroup's OOM killer ended the slice, else None."""
        return OOM_KILLED if self.oom_killed else None

    def cpu_usage_usec(self) -> int | None:
        """CPU time the slice's cgroup has used so far."""
        return self.spawner.driver.cpu_usage_usec(self.cgroup)


class IsolatedSpawner:
    """Starts each slice in its herd's cgroup and network namespace, in new namespaces.

    ``herds`` gives each herd's quota, egress allow-list, secret values and mode
    (unknown herds get strict isolation and no quota). ``egress_peer`` names the network
    namespace that holds the host end of egress links (default: the host's). ``warm``:
    ``python -m <module>`` for a module in ``preload`` starts by fork, without exec.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        herds: Mapping[str, HerdIsolation] | None = None,
        *,
        egress_peer: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
        warm: bool = True,
        preload: tuple[str, ...] = PRELOAD,
        secret_delivery: str = "file",  # noqa: S107 - a delivery mode, not a secret
        driver: CgroupDriver | None = None,
    ) -> None:
        self.driver = driver or detect()
        self.host = host_support(self.driver)
        self.herds = dict(herds or {})
        self.grants: dict[str, Grant] = {}
        for name, herd in self.herds.items():
            check_secret_names(name, herd.secrets)
            self.grants[name] = grant(herd, self.host)
        self.egress_peer = egress_peer
        self.uid, self.gid = uid, gid
        self.preload = preload if warm else ()
        if secret_delivery not in ("file", "env"):
            raise IsolationError(f"secret delivery {secret_delivery!r}", "use 'file' or 'env'")
        self.secret_delivery = secret_delivery
        self.removed_leftovers = sweep_dead_owners(self.driver) if self.host.root else []
        self.token = f"{PREFIX}{os.getpid()}-{next(_instances)}"
        self._prepared: dict[str, str | None] = {}  # herd -> its netns path
        self._egress: dict[str, tuple[tuple[str, int], ...]] = {}  # herd -> egress applied
        self._processes: dict[int, IsolatedProcess] = {}
        self._replies: dict[int, dict[str, Any]] = {}
        self._requests = itertools.count()
        self._slices = itertools.count()
        self._sock, self._server = self._start_forkserver()

    # --- the forkserver ---------------------------------------------------------------

    def _start_forkserver(self) -> tuple[socket.socket, subprocess.Popen[bytes]]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        preload = self.preload
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.isolation.forkserver",
                str(theirs.fileno()),
                self.token,
                *preload,
            ],
            pass_fds=(theirs.fileno(),),
            start_new_session=True,  # Ctrl-C goes to the supervisor, which decides
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        ready, _, _ = select.select([ours], [], [], STARTUP_TIMEOUT)
        message = json.loads(ours.recv(1 << 16) or b"{}") if ready else {}
        if not message.get("ready"):
            server.kill()
            server.wait()
            ours.close()
            raise IsolationError(
                "the isolation forkserver did not start: "
                + str(message.get("fatal", "no answer within 30 s"))
            )
        return ours, server

    def _request(self, message: dict[str, Any], fds: tuple[int, ...] = ()) -> dict[str, Any]:
        request_id = next(self._requests)
        data = json.dumps({**message, "id": request_id}).encode()
        try:
            socket.send_fds(self._sock, [data], list(fds))
        except OSError as exc:
            raise IsolationError(f"the isolation forkserver is gone: {exc}") from exc
        while request_id not in self._replies:
            if not self.pump(1.0) and self._server.poll() is not None:
                raise IsolationError("the isolation forkserver exited unexpectedly")
        return self._replies.pop(request_id)

    def pump(self, timeout: float) -> bool:
        """Read what the forkserver reported (replies, exits) for up to ``timeout`` s."""
        if self._sock.fileno() < 0:
            return False
        ready, _, _ = select.select([self._sock], [], [], max(timeout, 0))
        got = False
        while ready:
            try:
                data = self._sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if not data:
                self._forkserver_gone()
                return got
            got = True
            message = json.loads(data)
            if "exit" in message:
                self._exited(int(message["exit"]), int(message["code"]))
            elif "id" in message:
                self._replies[int(message["id"])] = message
        return got

    def _exited(self, pid: int, code: int) -> None:
        process = self._processes.pop(pid, None)
        if process is None:
            return
        # Read the OOM counter now: the cgroup is removed at cleanup.
        process.oom_killed = code != 0 and self.driver.oom_kills(process.cgroup) > 0
        process.returncode = code

    def _forkserver_gone(self) -> None:
        for pid, process in list(self._processes.items()):
            self.driver.kill(process.cgroup)
            self._exited(pid, -signal.SIGKILL)
        self._sock.close()

    # --- slices -----------------------------------------------------------------------

    def _herd(self, name: str) -> tuple[HerdIsolation, Grant]:
        if name not in self.herds:
            self.herds[name] = HerdIsolation(name)
            self.grants[name] = grant(self.herds[name], self.host)
        return self.herds[name], self.grants[name]

    def _prepare(self, herd: HerdIsolation, given: Grant) -> str | None:
        """The herd's cgroup (with its quota) and network namespace, made once; a quota or
        egress allow-list a new commit changed is applied at the herd's next slice."""
        rel = f"{self.token}/{herd.name}"
        if herd.name in self._prepared:
            if given.controllers and self.driver.created.get(rel) != herd.quota:
                try:
                    self.driver.set_limits(rel, herd.quota)  # a limit removed goes too
                    self.driver.created[rel] = herd.quota  # what self-heal holds it to
                except CgroupError as exc:
                    raise IsolationError(f"herd {herd.name!r}: {exc}") from exc
            if given.network and self._egress.get(herd.name) != herd.egress:
                self._network(herd, "renet")  # tightened or widened: as Git says, now
            return self._prepared[herd.name]
        if given.controllers:
            try:
                self.driver.create(rel, herd.quota)
            except CgroupError as exc:
                raise IsolationError(f"herd {herd.name!r}: {exc}") from exc
        path = self._network(herd, "net") if given.network else None
        self._prepared[herd.name] = path
        return path

    def _network(self, herd: HerdIsolation, op: str) -> str:
        """Create (``net``) or re-wire (``renet``) the herd's network namespace."""
        name = f"{self.token}-{herd.name}"
        old = self._egress.get(herd.name, ())
        reply = self._request(
            {"op": op, "name": name, "egress": herd.egress, "peer": self.egress_peer, "old": old}
        )
        if "error" in reply:
            raise IsolationError(
                f"herd {herd.name!r}: cannot set up its network namespace: {reply['error']}"
            )
        self._egress[herd.name] = herd.egress
        return netns.path(name)

    def spawn(self, launch: SliceLaunch) -> IsolatedProcess:
        """Start ``launch`` confined: in its cgroup before any of its code runs."""
        herd, given = self._herd(launch.herd)
        network = self._prepare(herd, given)
        cgroup = f"{self.token}/{herd.name}/{next(self._slices):04d}-{_safe(launch.slice_id)}"
        procs: tuple[str, ...] = ()
        if given.controllers:
            try:
                self.driver.create(cgroup, _slice_limits(launch, herd.quota))
            except CgroupError as exc:
                raise IsolationError(f"slice {launch.slice_id}: {exc}") from exc
            procs = self.driver.procs_files(cgroup)
        binds = [(p, False) for p in (*launch.bind_ro, *runtime_paths())]
        binds += [(p, True) for p in launch.bind_rw]
        request = {
            "op": "spawn",
            "argv": list(launch.argv),
            "env": {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
                "RUNINK_SECRETS_DIR": "/run/secrets",
                **launch.env,
            },
            "cwd": launch.cwd,
            "targets": [*launch.pass_fds, 1, 2],
            "cgroup_procs": list(procs),
            "netns": network,
            "namespaces": list(given.namespaces),
            "hostname": _hostname(launch.slice_id),
            "binds": [(os.path.realpath(p), rw) for p, rw in binds],
            "readonly_root": True,
            "secrets": dict(herd.secrets),
            "secret_delivery": self.secret_delivery,
            "uid": self.uid,
            "gid": self.gid,
            "nofile": DEFAULT_NOFILE,
        }
        reply = self._request(request, (*launch.pass_fds, 1, 2))
        if "error" in reply:
            with contextlib.suppress(CgroupError):
                self.driver.remove(cgroup)
            raise IsolationError(f"cannot start slice {launch.slice_id}: {reply['error']}")
        process = IsolatedProcess(self, int(reply["pid"]), cgroup, launch.slice_id)
        self._processes[process.pid] = process
        return process

    def running(self) -> list[IsolatedProcess]:
        """The slices started here whose exit has not been reported yet."""
        return list(self._processes.values())

    def skipped(self, herd: str) -> tuple[str, ...]:
        """What a best-effort herd runs without on this host."""
        return self._herd(herd)[1].skipped

    def cleanup(self) -> None:
        """Kill what is still running and remove the run's cgroups and namespaces."""
        for process in list(self._processes.values()):
            process.kill()
        deadline = time.monotonic() + 5.0
        while self._processes and time.monotonic() < deadline:
            self.pump(0.05)
        self._prepared.clear()
        self._egress.clear()
        if self.host.root:
            sweep(self.driver, self.token)

    def close(self) -> None:
        """Clean up and stop the forkserver."""
        self.cleanup()
        if self._sock.fileno() >= 0:
            self._sock.close()
        try:
            self._server.wait(10)
        except subprocess.TimeoutExpired:
            self._server.kill()
            self._server.wait()

    def __enter__(self) -> IsolatedSpawner:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _slice_limits(launch: SliceLaunch, quota: Limits) -> Limits:
    """A slice's limits: its ``@requires``, never above its herd's quota (v1 refuses)."""

    def lower(a: int | None, b: int | None) -> int | None:
        return b if a is None else a if b is None else min(a, b)

    return Limits(
        cpu_millis=lower(launch.cpu_millis, quota.cpu_millis),
        memory_bytes=lower(launch.memory_bytes, quota.memory_bytes),
        pids=lower(launch.pids, quota.pids),
    )


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:80]


# Mounted afresh (empty) in every slice: what lives below them is hidden unless bound.
MASKED = ("/tmp", "/dev/shm", "/run")  # noqa: S108 - the slice's private mounts


def runtime_paths() -> tuple[str, ...]:
    """What a slice needs to run Python and Runink (the interpreter, the venv, Runink's
    own tree) where a private mount would hide it: an install under /tmp (a CI checkout)
    must stay visible, read-only, inside the slice."""
    import runink

    candidates = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        str(Path(runink.__file__).resolve().parents[1]),
    }
    hidden = []
    for path in sorted(os.path.realpath(p) for p in candidates):
        if any(path == m or path.startswith(m + "/") for m in MASKED):
            hidden.append(path)
    return tuple(hidden)


def _hostname(slice_id: str) -> str:
    """The slice id as a hostname: '/' and other separators become '-', 63 bytes at most."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", slice_id)[:63] or "slice"
