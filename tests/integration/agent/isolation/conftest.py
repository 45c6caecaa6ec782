"""Real isolated slices: a spawner with a few herds, and a helper that runs Python in one."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.isolation import HerdIsolation, IsolatedProcess, IsolatedSpawner, Limits
from runink.runtime.spawn import SliceLaunch

ROOT_ONLY = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, namespaces)"),
]
SECRET_A = "alpha-secret-7f3c9e"
SECRET_B = "beta-secret-2d8a41"


@dataclass
class Result:
    code: int
    output: str
    process: IsolatedProcess


def start(
    spawner: IsolatedSpawner,
    herd: str,
    code: str,
    slice_id: str = "slice-1",
    workdir: Path | None = None,
    **launch: object,
) -> tuple[IsolatedProcess, int]:
    """Start ``python -c code`` as a slice; it gets a pipe to write to at ``sys.argv[1]``."""
    read_fd, write_fd = os.pipe()
    cwd = str(workdir) if workdir is not None else "/"
    process = spawner.spawn(
        SliceLaunch(
            slice_id=slice_id,
            herd=herd,
            argv=(sys.executable, "-c", code, str(write_fd)),
            pass_fds=(write_fd,),
            cwd=cwd,
            bind_rw=(cwd,) if workdir is not None else (),
            **launch,  # type: ignore[arg-type]
        )
    )
    os.close(write_fd)
    return process, read_fd


def finish(process: IsolatedProcess, read_fd: int, timeout: float = 30) -> Result:
    """Read everything the slice wrote, then its exit status."""
    chunks = []
    with os.fdopen(read_fd, "rb") as pipe:
        chunks.append(pipe.read())
    return Result(process.wait(timeout), b"".join(chunks).decode(), process)


def run_python(spawner: IsolatedSpawner, herd: str, code: str, **kw: object) -> Result:
    return finish(*start(spawner, herd, code, **kw))  # type: ignore[arg-type]


@pytest.fixture
def spawner() -> Iterator[IsolatedSpawner]:
    herds = {
        "alpha": HerdIsolation("alpha", Limits(pids=64), secrets={"token": SECRET_A}),
        "beta": HerdIsolation("beta", Limits(pids=64), secrets={"token": SECRET_B}),
        "tiny": HerdIsolation("tiny", Limits(cpu_millis=1000, memory_bytes=256 << 20, pids=24)),
    }
    with IsolatedSpawner(herds) as made:
        yield made


@pytest.fixture
def outside() -> Iterator[str]:
    """A network namespace standing in for the world outside a herd (never the real one)."""
    from pyroute2 import NetNS, netns

    name = f"rktest-outside-{os.getpid()}"
    netns.create(name)
    try:
        with NetNS(name) as ns:
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            for address in ("10.20.0.5", "10.20.0.6"):
                ns.addr("add", index=lo, address=address, prefixlen=32)
        yield name
    finally:
        with contextlib.suppress(OSError):
            netns.remove(name)
