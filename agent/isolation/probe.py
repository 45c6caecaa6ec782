"""``python -m agent.isolation.probe``: try each namespace kind for real, print JSON.

Runs in its own single-threaded process because it forks and unshares.
"""

from __future__ import annotations

import json
import os
import sys

from agent.isolation import libc, netns
from agent.isolation.cgroups import PREFIX


def try_unshare(flag: int) -> str:
    """ "ok", or why a child could not create a namespace of this kind."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            libc.unshare(flag)
        except OSError as exc:
            os.write(write, str(exc).encode())
            os._exit(1)
        os._exit(0)
    os.close(write)
    reason = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(pid, 0)
    return reason or "ok"


def try_netns() -> str:
    """ "ok" when pyroute2 can create a network namespace and bring its loopback up."""
    name = f"{PREFIX}{os.getpid()}-0-doctor"
    try:
        netns.create(name)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        netns.remove(name)
    return "ok"


def main() -> int:
    """Print what this host lets a root process create."""
    report = {kind: try_unshare(flag) for kind, flag in libc.NAMESPACE_FLAGS.items()}
    report["netns_pyroute2"] = try_netns()
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
