"""Barn benchmark: durable writes on 1 and 3 members vs raw pysyncobj (defaults, no flush).

Run: ``.venv/bin/python bench/barn.py [--quick]``. Prints a table and writes
``bench/results/barn.json``. Every member is a real process on 127.0.0.1.

* Barn numbers go through a member's client port (AEAD framing, JSON), and every
  write is fdatasync'd on a majority before it is acknowledged.
* raw pysyncobj is measured inside node 0's process (no client hop at all), with its
  default configuration plus a journal file (mmap, never flushed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runink.barn.client import RemoteBarn  # noqa: E402

SECRET = b"benchmark-cluster-secret-0123456789abcdef"


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ------------------------------------------------------------------------------ Barn


def start_barn(root: Path, size: int) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    ports = free_ports(2 * size)
    members = [
        {
            "name": f"m{i}",
            "raft": f"127.0.0.1:{ports[2 * i]}",
            "client": f"127.0.0.1:{ports[2 * i + 1]}",
        }
        for i in range(size)
    ]
    (root / "secret").write_bytes(SECRET)
    procs = []
    for m in members:
        cfg = root / f"{m['name']}.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "name": m["name"],
                    "data_dir": str(root / m["name"]),
                    "secret_file": str(root / "secret"),
                    "members": members,
                }
            )
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "runink.barn", "--config", str(cfg)],
                stdout=subprocess.DEVNULL,
                stderr=open(root / f"{m['name']}.log", "wb"),  # noqa: SIM115 (child keeps it)
            )
        )
    return procs, [m["client"] for m in members]


def wait_barn_leader(addresses: list[str], timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address in addresses:
            client = RemoteBarn([address], SECRET, timeout=1)
            try:
                status = client.status()
                if status.is_leader:
                    client.put("/bench/warmup", 1)
                    return address
            except Exception:
                pass
            finally:
                client.close()
        time.sleep(0.1)
    raise TimeoutError("no leader")


def bench_barn(size: int, writes: int, pipelined: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"barn-bench-{size}-"))
    procs, addresses = start_barn(root, size)
    try:
        leader = wait_barn_leader(addresses)
        client = RemoteBarn([leader], SECRET)
        value = {"payload": "x" * 100}
        latencies = []
        start = time.perf_counter()
        for i in range(writes):
            t = time.perf_counter()
            client.put(f"/bench/seq/{i}", value)
            latencies.append(time.perf_counter() - t)
        single_tput = writes / (time.perf_counter() - start)
        # 64 clients, each with one request in flight: 8 connections x 8 outstanding.
        clients = [RemoteBarn([leader], SECRET, timeout=30) for _ in range(8)]
        window = threading.Semaphore(64)
        finished = threading.Event()
        errors: list[BaseException] = []
        remaining = [pipelined]
        lock = threading.Lock()

        def done(future: Future[Any]) -> None:
            if future.exception() is not None:
                errors.append(future.exception())  # type: ignore[arg-type]
            window.release()
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    finished.set()

        total = pipelined
        cpu_before = [process_cpu(p.pid) for p in procs]
        own_before = sum(os.times()[:2])
        start = time.perf_counter()
        for sent in range(total):
            window.acquire()
            c = clients[sent % len(clients)]
            c.submit({"op": "put", "key": f"/bench/par/{sent}", "value": value}).add_done_callback(
                done
            )
        finished.wait(600)
        if errors:
            raise errors[0]
        pipe_tput = total / (time.perf_counter() - start)
        leader_index = addresses.index(leader)
        member_cpu = [process_cpu(p.pid) - b for p, b in zip(procs, cpu_before, strict=True)]
        client_cpu = sum(os.times()[:2]) - own_before
        leader_us = member_cpu[leader_index] / total * 1e6
        follower_us = [c / total * 1e6 for i, c in enumerate(member_cpu) if i != leader_index]
        client_us = client_cpu / total * 1e6
        cpu_per_write = leader_us + sum(follower_us) + client_us
        cpus = os.cpu_count() or 1
        for c in [client, *clients]:
            c.close()
        return {
            "members": size,
            "durable": True,
            "path": "client port (AEAD + JSON) -> leader, fdatasync on majority before ack",
            "single_write_p50_ms": statistics.median(latencies) * 1e3,
            "single_write_p99_ms": percentile(latencies, 0.99) * 1e3,
            "writes_per_s_1_client": single_tput,
            "writes_per_s_64_pipelined": pipe_tput,
            "writes": writes,
            "pipelined_writes": pipelined,
            "cpu_us_per_write_pipelined": {
                "leader": leader_us,
                "followers": follower_us,
                "client": client_us,
                "total": cpu_per_write,
                "cpu_bound_ceiling_writes_per_s": cpus / cpu_per_write * 1e6,
            },
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait()
        shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------- raw pysyncobj

RAW_NODE = r"""
import json, sys, threading, time, statistics
from pysyncobj import SyncObj, SyncObjConf, replicated

class KV(SyncObj):
    def __init__(self, me, others, journal):
        super().__init__(me, others, SyncObjConf(journalFile=journal))
        self.data = {}
    @replicated
    def put(self, key, value):
        self.data[key] = value
        return len(self.data)

me, others, journal, bench = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
writes, pipelined = int(sys.argv[5]), int(sys.argv[6])
kv = KV(me, others, journal)
if bench != "1":
    time.sleep(3600)
while kv._getLeader() is None or not kv._isReady():
    time.sleep(0.05)
kv.put("warmup", 1, sync=True, timeout=30)
value = {"payload": "x" * 100}
lat = []
start = time.perf_counter()
for i in range(writes):
    t = time.perf_counter()
    kv.put("seq/%d" % i, value, sync=True, timeout=30)
    lat.append(time.perf_counter() - t)
single = writes / (time.perf_counter() - start)
sem = threading.Semaphore(64)
done = threading.Event()
count = [0]
lock = threading.Lock()
def cb(res, err):
    sem.release()
    with lock:
        count[0] += 1
        if count[0] == pipelined:
            done.set()
start = time.perf_counter()
for i in range(pipelined):
    sem.acquire()
    kv.put("par/%d" % i, value, callback=cb)
done.wait(300)
pipe = pipelined / (time.perf_counter() - start)
lat.sort()
p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
print(json.dumps({"p50": statistics.median(lat), "p99": p99,
                  "single": single, "pipe": pipe}), flush=True)
"""


def bench_raw(size: int, writes: int, pipelined: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"raw-bench-{size}-"))
    addresses = [f"127.0.0.1:{p}" for p in free_ports(size)]
    procs = []
    try:
        for i, me in enumerate(addresses):
            others = [a for a in addresses if a != me]
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        RAW_NODE,
                        me,
                        json.dumps(others),
                        str(root / f"journal{i}"),
                        "1" if i == 0 else "0",
                        str(writes),
                        str(pipelined),
                    ],
                    stdout=subprocess.PIPE if i == 0 else subprocess.DEVNULL,
                )
            )
        out, _ = procs[0].communicate(timeout=600)
        data = json.loads(out.decode().strip().splitlines()[-1])
        return {
            "members": size,
            "durable": False,
            "path": "in-process replicated call on node 0, pysyncobj defaults, mmap journal "
            "never flushed",
            "single_write_p50_ms": data["p50"] * 1e3,
            "single_write_p99_ms": data["p99"] * 1e3,
            "writes_per_s_1_client": data["single"],
            "writes_per_s_64_pipelined": data["pipe"],
            "writes": writes,
            "pipelined_writes": pipelined,
        }
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
        shutil.rmtree(root, ignore_errors=True)


def fsync_cost_ms() -> float:
    with tempfile.NamedTemporaryFile(dir=ROOT) as f:
        start = time.perf_counter()
        for _ in range(200):
            os.write(f.fileno(), b"x" * 200)
            os.fdatasync(f.fileno())
        return (time.perf_counter() - start) / 200 * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer writes (smoke run)")
    args = parser.parse_args()
    writes, pipelined = (200, 2000) if args.quick else (1000, 20000)
    raw_writes = 100 if args.quick else 200  # ~100 ms each with defaults
    raw_pipelined = min(pipelined, 5000)  # ~600/s with defaults
    rows = [
        ("Barn, 3 members, durable", bench_barn(3, writes, pipelined)),
        ("Barn, 1 member, durable", bench_barn(1, writes, pipelined)),
        ("raw pysyncobj, 3 members, defaults", bench_raw(3, raw_writes, raw_pipelined)),
        ("raw pysyncobj, 1 member, defaults", bench_raw(1, raw_writes, raw_pipelined)),
    ]
    print(f"{'setup':<38} {'p50 ms':>8} {'p99 ms':>8} {'1 client/s':>11} {'64 pipe/s':>10}")
    for name, r in rows:
        print(
            f"{name:<38} {r['single_write_p50_ms']:>8.2f} {r['single_write_p99_ms']:>8.2f} "
            f"{r['writes_per_s_1_client']:>11.0f} {r['writes_per_s_64_pipelined']:>10.0f}"
        )
    result = {
        "benchmark": "barn",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "fdatasync_ms": fsync_cost_ms(),
        },
        "targets": {"single_write_p50_ms": 10, "writes_per_s_64_pipelined_3_members": 10000},
        "results": {name: r for name, r in rows},
        "notes": [
            "Barn's 3-member pipelined rate is bounded by CPU on this 2-vCPU VM: the leader,"
            " both followers and the client share 2 cores; cpu_us_per_write_pipelined gives"
            " the per-role cost and the rate at which both cores would be saturated.",
            "Each replication round is serial (leader decodes + proposes, followers append +"
            " fdatasync + ack, leader commits + applies + replies), so with 64 writes in"
            " flight a round carries at most 64 writes; syscalls that cross processes"
            " (loopback send, fdatasync on virtio) cost 0.1-1 ms each here.",
            "raw pysyncobj defaults: ~100 ms per sync write (autoTickPeriod 0.05 s +"
            " appendEntriesPeriod 0.1 s, appendEntriesUseBatch) and no fsync at all.",
        ],
    }
    out = ROOT / "bench" / "results" / "barn.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for name, r in rows:
        cpu = r.get("cpu_us_per_write_pipelined")
        if cpu:
            print(
                f"{name}: CPU per pipelined write: leader {cpu['leader']:.0f} us, followers "
                f"{[round(f) for f in cpu['followers']]} us, client {cpu['client']:.0f} us; "
                f"all {os.cpu_count()} cores saturated at "
                f"{cpu['cpu_bound_ceiling_writes_per_s']:.0f} writes/s"
            )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
