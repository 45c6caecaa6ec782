"""What one self-heal sweep costs the agent, with 0, 10 and 50 slices running.

The sweep holds the lock every slice spawn holds, so its time under that lock is the
number that matters: it delays a slice's start (and the pumping of exits) by at most
that much. Side by side, in the same run, the baseline: one slice spawn through the
same warm forkserver (which holds the same lock while it runs).

Each slice is an isolated ``sleep`` (cgroups, PID/mount/UTS/IPC/net namespaces) in one
herd with a quota; nothing is out of place, so every sweep reads everything and changes
nothing, which is the steady state on a node.

Prints a table and writes bench/results/selfheal.json. ``--runs N`` (default 30).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLICES = (0, 10, 50)


class TimedLock:
    """A lock that adds up how long it was held (the sweep's share of the spawn lock)."""

    def __init__(self) -> None:
        self.inner = threading.Lock()
        self.held: list[float] = []
        self._since = 0.0

    def __enter__(self) -> TimedLock:
        self.inner.acquire()
        self._since = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.held.append((time.perf_counter() - self._since) * 1000)
        self.inner.release()


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/selfheal.py needs root (cgroups, namespaces)", file=sys.stderr)
        return 2
    from agent.isolation import HerdIsolation, IsolatedProcess, IsolatedSpawner, Limits
    from agent.selfheal import SelfHeal, Suspended
    from runink.runtime.spawn import SliceLaunch

    herds = {"bench": HerdIsolation("bench", Limits(cpu_millis=1000, memory_bytes=1 << 30))}
    results: dict[str, dict[str, Any]] = {}
    with IsolatedSpawner(herds) as spawner:
        lock = TimedLock()
        heal = SelfHeal(spawner, lock, lambda: Suspended())  # type: ignore[arg-type]
        slices: list[IsolatedProcess] = []

        def spawn() -> IsolatedProcess:
            launch = SliceLaunch(f"bench/p/s{len(slices)}", "bench", ("sleep", "600"), (), "/")
            with lock:
                return spawner.spawn(launch)

        spawn_times = []
        for _ in range(args.runs):  # the baseline: spawn and end one slice
            began = time.perf_counter()
            process = spawn()
            spawn_times.append((time.perf_counter() - began) * 1000)
            process.kill()
            process.wait(10)
        spawner.cleanup()
        results["baseline: one slice spawn"] = {"slices": 0, **summary(spawn_times)}
        try:
            for count in SLICES:
                while len(slices) < count:
                    slices.append(spawn())
                heal.sweep()  # warm-up
                lock.held.clear()
                sweep_times = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    healed = heal.sweep()
                    sweep_times.append((time.perf_counter() - began) * 1000)
                    assert healed == [], healed
                total = summary(sweep_times)
                held = summary(lock.held)
                results[f"sweep, {count} slices"] = {
                    "slices": count,
                    **total,
                    "lock_median_ms": held["median_ms"],
                    "lock_p95_ms": held["p95_ms"],
                }
        finally:
            for process in slices:
                process.kill()
            for process in slices:
                process.wait(10)
    base = results["baseline: one slice spawn"]["median_ms"]
    print(f"selfheal: one sweep vs one slice spawn, {args.runs} runs each (ms)")
    print(f"{'case':<28} {'median':>8} {'p95':>8} {'lock med':>9} {'lock p95':>9} {'vs spawn':>9}")
    for name, row in results.items():
        lock_med = row.get("lock_median_ms", row["median_ms"])
        lock_p95 = row.get("lock_p95_ms", row["p95_ms"])
        row["lock_vs_spawn"] = round(lock_med / base, 2) if base else None
        print(
            f"{name:<28} {row['median_ms']:>8.2f} {row['p95_ms']:>8.2f} "
            f"{lock_med:>9.2f} {lock_p95:>9.2f} {row['lock_vs_spawn']:>8.2f}x"
        )
    out = ROOT / "bench" / "results" / "selfheal.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "selfheal",
                "runs": args.runs,
                "python": platform.python_version(),
                "kernel": platform.release(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
