"""Durability at the syscall level: a write is acknowledged only after fdatasync.

Killing processes cannot show a missing fsync (the page cache survives kill -9), so
these tests watch the system calls of a real member with strace instead. The first
shows raw pysyncobj's behaviour (no msync/fsync/fdatasync at all: acknowledged writes
live in the page cache and die with the machine); the second shows that every Barn
acknowledgement is preceded by an fdatasync of the journal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.barn.harness import Cluster, free_ports

# strace is installed by `make test` (Makefile system-deps); without it these tests
# fail rather than skip, so the durability proof cannot silently go missing.

RAW_COUNTER = """
import sys, time
from pysyncobj import SyncObj, SyncObjConf, replicated

class Counter(SyncObj):
    def __init__(self, port, journal):
        super().__init__("127.0.0.1:%d" % port, [], SyncObjConf(journalFile=journal,
                         appendEntriesUseBatch=False))
        self.n = 0
    @replicated
    def inc(self):
        self.n += 1
        return self.n

c = Counter(int(sys.argv[1]), sys.argv[2])
while not c._isReady():
    time.sleep(0.05)
for i in range(20):
    assert c.inc(sync=True, timeout=10) == i + 1
print("acknowledged", c.n, flush=True)
c.destroy()
"""


def _syscalls(trace: Path, names: tuple[str, ...]) -> list[str]:
    out = []
    for line in trace.read_text().splitlines():
        for name in names:
            if f" {name}(" in line or line.startswith(f"{name}("):
                out.append(name)
    return out


@pytest.mark.timeout(120)
def test_raw_pysyncobj_acknowledges_without_any_sync(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    trace = tmp_path / "trace"
    out = subprocess.run(  # strace exits with its child; nothing is left running
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=msync,fsync,fdatasync,sync_file_range",
            "-o",
            str(trace),
            sys.executable,
            "-c",
            RAW_COUNTER,
            str(port),
            str(tmp_path / "journal"),
        ],
        capture_output=True,
        timeout=100,
    )
    assert b"acknowledged 20" in out.stdout, out.stderr[-2000:]
    assert _syscalls(trace, ("msync", "fsync", "fdatasync", "sync_file_range")) == []


@pytest.mark.timeout(120)
def test_every_barn_acknowledgement_follows_an_fdatasync(tmp_path: Path) -> None:
    c = Cluster(tmp_path, size=1)
    trace = tmp_path / "trace"
    try:
        c.start("m0")
        c.kill("m0")
        c.procs["m0"] = subprocess.Popen(
            [
                "strace",
                "-f",
                "-qq",
                "-e",
                "trace=fdatasync,sendto",
                "-o",
                str(trace),
                sys.executable,
                "-m",
                "runink.barn",
                "--config",
                str(tmp_path / "m0.yaml"),
            ],
            stdout=open(tmp_path / "m0.log", "ab"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT,
            start_new_session=True,  # killing strace alone would leave the member running
        )
        c.wait_leader(timeout=60)
        client = c.client()
        client.put("/warmup", 0)
        time.sleep(0.3)
        before = len(_syscalls(trace, ("fdatasync", "sendto")))
        for i in range(20):
            client.put(f"/k/{i}", i)
        time.sleep(0.5)
        calls = _syscalls(trace, ("fdatasync", "sendto"))[before:]
        replies = 0
        synced_since_reply = False
        for call in calls:
            if call == "fdatasync":
                synced_since_reply = True
            else:
                assert synced_since_reply, f"a reply left before any fdatasync: {calls}"
                synced_since_reply = False
                replies += 1
        assert replies >= 20
        client.close()
    finally:
        proc = c.procs["m0"]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
