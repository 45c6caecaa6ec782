"""The forkserver: a single-threaded process that starts every isolated slice.

``python -m agent.isolation.forkserver FD OWNER [MODULE ...]``: FD is a SEQPACKET
socket to the supervisor; OWNER names what it must remove if the supervisor dies;
MODULEs are imported once, so a slice running one of them starts by fork alone.

Starting a slice takes two forks. The first child joins the slice's cgroups, the herd
network namespace and new mount/UTS/IPC/PID namespaces, then forks the slice itself,
which is PID 1 of its namespace: it mounts /proc, private /tmp, /dev/shm and /run
(secrets in /run/secrets), binds the repo, data and run directories, makes the rest
read-only, sets its hostname, rlimits, capabilities, uid and ``no_new_privs``, moves
the inherited pipes to their fd numbers and execs (or, warm, runs the preloaded
module). The first child waits and exits the way the slice did, so the supervisor
sees one process. Nothing here runs in a threaded process: that is why it exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import resource
import runpy
import select
import signal
import socket
import sys
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

from agent.isolation import libc, netns
from agent.isolation.cgroups import detect
from agent.isolation.leftovers import sweep

MAX_MESSAGE = 1 << 20
MAX_FDS = 250
SECRETS_DIR = "/run/secrets"


class SetupError(Exception):
    """One step of a slice's setup failed; the message says which and why."""


@contextlib.contextmanager
def _step(what: str) -> Iterator[None]:
    try:
        yield
    except SetupError:
        raise
    except Exception as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SetupError(f"{what}: {reason}") from exc


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    """One JSON message on the supervisor socket."""
    sock.send(json.dumps(message).encode())


def main(argv: list[str]) -> int:
    """Serve spawn and network requests until the supervisor goes away."""
    sock = socket.socket(fileno=int(argv[1]))
    owner = argv[2]
    for module in argv[3:]:
        importlib.import_module(module)
    with contextlib.suppress(ImportError):  # herd networks need it: import it while idle
        importlib.import_module("pyroute2")
    if len(os.listdir("/proc/self/task")) != 1:
        send(sock, {"fatal": "the forkserver is not single-threaded after its imports"})
        return 1
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    state = {"wake": (wake_r, wake_w), "preloaded": tuple(argv[3:])}
    send(sock, {"ready": True, "pid": os.getpid()})
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 512):
                    pass
            _reap(sock)
        if sock.fileno() in ready:
            try:
                data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
            except ConnectionError:
                data, fds = b"", []
            if not data:
                break
            request = json.loads(data)
            try:
                reply = _handle(request, fds, sock, state)
            except Exception as exc:
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            send(sock, {"id": request.get("id"), **reply})
            _reap(sock)
    # The supervisor is gone (exited or killed): take everything it started with it.
    sweep(detect(), owner)
    return 0


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        with contextlib.suppress(OSError):
            send(sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def _handle(
    request: dict[str, Any], fds: list[int], sock: socket.socket, state: dict[str, Any]
) -> dict[str, Any]:
    op = request.get("op")
    if op == "spawn":
        return _spawn(request, fds, sock, state)
    if op == "net":
        netns.create(
            request["name"], [(a, int(p)) for a, p in request["egress"]], request.get("peer")
        )
        return {"ok": True}
    if op == "renet":
        netns.rewire(
            request["name"],
            [(a, int(p)) for a, p in request["egress"]],
            request.get("peer"),
            [(a, int(p)) for a, p in request.get("old", ())],
        )
        return {"ok": True}
    if op == "unnet":
        netns.remove(request["name"])
        return {"ok": True}
    return {"error": f"unknown request {op!r}"}


def _spawn(
    request: dict[str, Any], fds: list[int], sock: socket.socket, state: dict[str, Any]
) -> dict[str, Any]:
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            _first_child(request, fds, status_w, sock, state)
        except BaseException as exc:
            _fail(status_w, exc)
        os._exit(127)
    os.close(status_w)
    chunks = []
    while chunk := os.read(status_r, 65536):
        chunks.append(chunk)
    os.close(status_r)
    if chunks:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        return {"error": b"".join(chunks).decode(errors="replace")}
    return {"pid": pid}


def _fail(status_w: int, exc: BaseException) -> None:
    text = str(exc) if isinstance(exc, SetupError) else traceback.format_exc(limit=3)
    with contextlib.suppress(OSError):
        os.write(status_w, text.encode()[:60000])


def _first_child(
    request: dict[str, Any],
    fds: list[int],
    status_w: int,
    sock: socket.socket,
    state: dict[str, Any],
) -> None:
    os.close(sock.detach())
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in state["wake"]:
        os.close(fd)
    os.setsid()
    for procs in request["cgroup_procs"]:
        with _step(f"joining cgroup {os.path.dirname(procs)}"), open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    if request.get("netns"):
        with _step(f"joining network namespace {request['netns']}"):
            fd = os.open(request["netns"], os.O_RDONLY | os.O_CLOEXEC)
            libc.setns(fd, libc.CLONE_NEWNET)
            os.close(fd)
    flags = 0
    for kind in request["namespaces"]:
        if kind != "net":
            flags |= libc.NAMESPACE_FLAGS[kind]
    with _step(f"creating namespaces {', '.join(request['namespaces'])}"):
        libc.unshare(flags)
    child = os.fork()
    if child == 0:
        status = [status_w]  # moves when the slice's fds are put in place
        try:
            _slice(request, fds, status, state)
        except BaseException as exc:
            _fail(status[0], exc)
        os._exit(127)
    os.close(status_w)
    for fd in fds:
        os.close(fd)

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    _, wait_status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    if code < 0:  # die of the same signal, so the supervisor sees what the slice saw
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # these cannot have handlers
            signal.signal(-code, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [-code])
        os.kill(os.getpid(), -code)
    os._exit(code if code >= 0 else 128 - code)


def _slice(
    request: dict[str, Any], fds: list[int], status: list[int], state: dict[str, Any]
) -> None:
    namespaces = set(request["namespaces"])
    uid, gid = request.get("uid"), request.get("gid")
    if "mnt" in namespaces:
        _mounts(request, namespaces)
    if "uts" in namespaces:
        with _step("setting the hostname"):
            libc.sethostname(request["hostname"])
    with _step("setting rlimits"):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        nofile = int(request["nofile"])
        nofile = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    if uid is None and os.geteuid() == 0:
        with _step("dropping capabilities"):
            libc.drop_capabilities(libc.DROPPED_CAPABILITIES)
    with _step("switching to the slice's uid/gid"):
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
    with _step("setting no_new_privs"):
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
    env = dict(request["env"])
    if request["secret_delivery"] == "env":  # noqa: S105 - a delivery mode, not a secret
        for name, value in request["secrets"].items():
            env[f"RUNINK_SECRET_{name.upper()}"] = value
    with _step("passing the slice's pipes"):
        status[0] = _install_fds(fds, request["targets"], status[0])
    with _step(f"entering {request['cwd']}"):
        os.chdir(request["cwd"])
    argv = request["argv"]
    module = _preloaded_module(argv, state["preloaded"])
    if module is not None:
        os.close(status[0])  # started: from here on the slice reports for itself
        os._exit(_run_module(module, argv, env, request["cwd"]))
    with _step(f"starting {argv[0]}"):
        os.execvpe(argv[0], argv, env)  # noqa: S606 - the supervisor's argv, no shell


def _mounts(request: dict[str, Any], namespaces: set[str]) -> None:
    """Private /tmp, /dev/shm and /run, the run's directories bound, the rest read-only."""
    with _step("making the mount namespace private"):
        libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    binds: dict[str, bool] = {}
    for path, writable in request["binds"]:
        binds[path] = binds.get(path, False) or bool(writable)
    # Open the directories now: the tmpfs mounts below may hide them (runs under /tmp).
    handles = {}
    for path in binds:
        with _step(f"opening {path} to bind it"):
            handles[path] = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    if "pid" in namespaces:
        with _step("mounting /proc"):
            libc.mount("proc", "/proc", "proc", libc.MS_NOSUID | libc.MS_NODEV | libc.MS_NOEXEC)
    tmpfs_flags = libc.MS_NOSUID | libc.MS_NODEV
    private = (("/tmp", "1777"), ("/dev/shm", "1777"), ("/run", "755"))  # noqa: S108 - fresh tmpfs
    for target, mode in private:
        if os.path.isdir(target):
            with _step(f"mounting a private {target}"):
                libc.mount("tmpfs", target, "tmpfs", tmpfs_flags, f"mode={mode},size=64m")
    secrets = request["secrets"]
    if secrets and request["secret_delivery"] == "file":  # noqa: S105 - a delivery mode
        with _step(f"writing secrets to {SECRETS_DIR}"):
            _write_secrets(secrets, request.get("uid"), request.get("gid"))
    for path in sorted(binds, key=lambda p: p.count("/")):
        with _step(f"binding {path}"):
            os.makedirs(path, exist_ok=True)
            libc.mount(f"/proc/self/fd/{handles[path]}", path, None, libc.MS_BIND | libc.MS_REC)
            if not binds[path]:
                ro = libc.MS_REMOUNT | libc.MS_BIND | libc.MS_RDONLY | libc.MS_NOSUID
                libc.mount(None, path, None, ro | libc.MS_NODEV)
        os.close(handles[path])
    if request["readonly_root"]:
        # Where the host allows it (a root that is not a mount point cannot be remounted).
        with contextlib.suppress(OSError):
            libc.mount(None, "/", None, libc.MS_REMOUNT | libc.MS_BIND | libc.MS_RDONLY)


def _write_secrets(secrets: dict[str, str], uid: int | None, gid: int | None) -> None:
    os.mkdir(SECRETS_DIR, 0o500)
    for name, value in secrets.items():
        fd = os.open(os.path.join(SECRETS_DIR, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        try:
            os.write(fd, value.encode())
            if uid is not None:
                os.fchown(fd, uid, gid if gid is not None else -1)
        finally:
            os.close(fd)
    if uid is not None:
        os.chown(SECRETS_DIR, uid, gid if gid is not None else -1)


def _install_fds(fds: list[int], targets: list[int], status_w: int) -> int:
    """Put received fd ``i`` at number ``targets[i]``, stdin on /dev/null, close the rest."""
    floor = max([*fds, *targets, status_w, 2]) + 1
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in fds]
    status = fcntl.fcntl(status_w, fcntl.F_DUPFD_CLOEXEC, floor)
    for fd in (*fds, status_w):
        os.close(fd)
    for source, target in zip(moved, targets, strict=True):
        os.dup2(source, target, inheritable=True)
    null = os.open("/dev/null", os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0, inheritable=True)
        os.close(null)
    keep = {0, status, *targets}
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in keep:
            with contextlib.suppress(OSError):
                os.close(int(name))
    return status


def _preloaded_module(argv: list[str], preloaded: tuple[str, ...]) -> str | None:
    """The module to run in-process when ``argv`` is ``python -m <preloaded module> ...``."""
    if (
        len(argv) >= 3
        and argv[1] == "-m"
        and argv[2] in preloaded
        and os.path.realpath(argv[0]) == os.path.realpath(sys.executable)
    ):
        return str(argv[2])
    return None


def _run_module(module: str, argv: list[str], env: dict[str, str], cwd: str) -> int:
    """What ``python -m module args`` would do, in this already warm interpreter."""
    os.environ.clear()
    os.environ.update(env)
    sys.argv = [module, *argv[3:]]
    sys.path[0] = cwd
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # runpy warns that the module is already imported: here that is the point (warm).
    warnings.filterwarnings("ignore", message=".*found in sys.modules after import of package")
    code: int
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
