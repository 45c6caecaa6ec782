"""How long until a slice has read its first batch? Bare process vs isolated vs others.

Each candidate starts the same reader: a module that imports what a slice imports
(``runink.runtime.slice``), reads one batch from its input pipe and acknowledges on
its control pipe. Time runs from "start slice" to the acknowledgement.

- ``bare``: ``python -m reader`` as a plain child (subprocess, like LocalSpawner);
- ``isolated (exec)``: our IsolatedSpawner, cold: cgroups + pid/mnt/uts/ipc/net
  namespaces + mounts, then exec of Python;
- ``isolated (warm)``: the same isolation, the forkserver has the reader preloaded, so
  the slice starts by fork alone;
- ``unshare`` (util-linux) and ``bwrap --unshare-all``, where installed, doing the
  namespaces (not cgroups) for the same reader.

Prints a table and writes bench/results/spawn.json. ``--runs N`` (default 25).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

READER = '''
"""Bench reader: a slice's imports, one batch in, one acknowledgement out."""
import os
import sys

import runink.runtime.slice  # noqa: F401 - what a real slice pays to start


def main() -> None:
    data, control = int(sys.argv[1]), int(sys.argv[2])
    batch = os.read(data, 65536)
    os.write(control, str(len(batch)).encode())


if __name__ == "__main__":
    main()
'''
BATCH = b'[{"trade_id": "T000001", "symbol": "AAPL", "quantity": 10}]' * 100

Starter = Callable[[tuple[str, ...], tuple[int, ...]], Callable[[], None]]


def measure(start: Starter, runs: int, cleanup: Callable[[], None] | None = None) -> list[float]:
    """Milliseconds from start to the reader's acknowledgement, ``runs`` times."""
    times = []
    for i in range(runs + 2):  # two warm-ups, not counted
        data_r, data_w = os.pipe()
        control_r, control_w = os.pipe()
        argv = (sys.executable, "-m", "rk_bench_reader", str(data_r), str(control_w))
        began = time.perf_counter()
        finish = start(argv, (data_r, control_w))
        os.close(data_r)
        os.close(control_w)
        os.write(data_w, BATCH)
        ack = os.read(control_r, 64)
        elapsed = (time.perf_counter() - began) * 1000
        assert int(ack) == len(BATCH), ack
        os.close(data_w)
        os.close(control_r)
        finish()
        if i >= 2:
            times.append(elapsed)
        if cleanup is not None and i % 10 == 9:
            cleanup()
    if cleanup is not None:
        cleanup()
    return times


def popen_starter(prefix: tuple[str, ...]) -> Starter:
    def start(argv: tuple[str, ...], fds: tuple[int, ...]) -> Callable[[], None]:
        process = subprocess.Popen(
            [*prefix, *argv], pass_fds=fds, stdin=subprocess.DEVNULL, start_new_session=True
        )
        return lambda: process.wait() and None

    return start


def isolated(warm: bool, runs: int, reader_dir: str) -> list[float]:
    from agent.isolation import HerdIsolation, IsolatedSpawner, Limits
    from runink.runtime.spawn import SliceLaunch

    herds = {"bench": HerdIsolation("bench", Limits(memory_bytes=512 << 20, pids=64))}
    preload = ("runink.runtime.slice", "rk_bench_reader")
    with IsolatedSpawner(herds, warm=warm, preload=preload) as spawner:
        counter = iter(range(1_000_000))

        def start(argv: tuple[str, ...], fds: tuple[int, ...]) -> Callable[[], None]:
            name = f"bench-{next(counter)}"
            env = {"PYTHONPATH": os.environ["PYTHONPATH"]}
            launch = SliceLaunch(name, "bench", argv, fds, "/", env, bind_ro=(reader_dir,))
            process = spawner.spawn(launch)
            return lambda: process.wait(30) and None

        spawner.spawn(SliceLaunch("warmup", "bench", ("true",), (), "/")).wait(30)
        return measure(start, runs, None)


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/spawn.py needs root (cgroups, namespaces)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="rk-bench-") as tmp:
        (Path(tmp) / "rk_bench_reader.py").write_text(READER)
        # Every candidate (and the forkserver) finds the reader the same way.
        os.environ["PYTHONPATH"] = os.pathsep.join([tmp, str(ROOT)])
        results: dict[str, dict[str, Any]] = {}
        results["bare python"] = summary(measure(popen_starter(()), args.runs))
        results["isolated (exec)"] = summary(isolated(False, args.runs, tmp))
        results["isolated (warm forkserver)"] = summary(isolated(True, args.runs, tmp))
        unshare = shutil.which("unshare")
        if unshare:
            prefix = (unshare, "--pid", "--fork", "--mount-proc", "--uts", "--ipc", "--net")
            results["util-linux unshare"] = summary(measure(popen_starter(prefix), args.runs))
        bwrap = shutil.which("bwrap")
        if bwrap:
            prefix = (bwrap, "--unshare-all", "--dev-bind", "/", "/", "--proc", "/proc")
            prefix += ("--tmpfs", "/tmp", "--bind", tmp, tmp, "--die-with-parent")
            results["bwrap --unshare-all"] = summary(measure(popen_starter(prefix), args.runs))
    bare = results["bare python"]["median_ms"]
    print(f"spawn: start slice -> first batch read, {args.runs} runs each (ms)")
    print(f"{'candidate':<28} {'median':>8} {'p95':>8} {'vs bare':>9}")
    for name, row in results.items():
        row["added_vs_bare_ms"] = round(row["median_ms"] - bare, 2)
        print(
            f"{name:<28} {row['median_ms']:>8.2f} {row['p95_ms']:>8.2f} "
            f"{row['added_vs_bare_ms']:>+9.2f}"
        )
    out = ROOT / "bench" / "results" / "spawn.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "spawn",
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
