"""What does a Prometheus scrape of a server holding 1,000 pipelines cost?

A real control plane (Barn member, controllers, the /metrics HTTP port with its bearer
token) on a git copy of example-repo; Barn is then seeded with 1,000 pipelines (copies
of a compiled Plan), 5 finished runs each, 20 live nodes and 50 runs awaiting lineage.
The status controller judges every pipeline (one ``runink_pipeline_info`` series each)
and the Barn exporter computes the rest at scrape time. Measured over HTTP as Prometheus
scrapes: time per scrape (first one, with the exporter's caches cold; then steady) and
bytes. Baseline, side by side: the same server holding only the example repository's
pipelines. Target: under 100 ms and under 2 MB. Prints a table and writes
bench/results/metrics.json.
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
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.embedded import embedded_config  # noqa: E402
from reconciler.server import ControlPlane  # noqa: E402
from runink.api.records import NodeRecord, RunRecord  # noqa: E402
from runink.barn import Op  # noqa: E402

PIPELINES = 1_000
RUNS_PER_PIPELINE = 5
NODES = 20
PENDING = 50
TARGET_MS = 100.0
TARGET_BYTES = 2 * 1024 * 1024
TEMPLATE = "/pipelines/finance/trades/validate-trades"


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@runink.dev", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=60,
    )


def scrape(plane: ControlPlane) -> tuple[float, int]:
    """(milliseconds, bytes) of one /metrics request."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{plane.http_port}/metrics",
        headers={"Authorization": f"Bearer {plane.config.metrics_token}"},
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as reply:
        body = reply.read()
    return (time.perf_counter() - start) * 1000, len(body)


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.2)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seed(plane: ControlPlane, pipelines: int) -> None:
    """Copies of a compiled Plan, their runs, live nodes and pending lineage, in batches."""
    barn = plane.barn
    assert barn is not None
    template = barn.get(TEMPLATE)
    assert template is not None and isinstance(template.value, Mapping)
    now = datetime.now(UTC)
    ops: list[Op] = []
    for i in range(pipelines):
        name = f"bench{i:04d}"
        pid = f"finance/{name}/validate-trades"
        # another source's pipelines: the apply controller leaves them alone
        ops.append(
            Op.put(
                f"/pipelines/{pid}",
                {**template.value, "pipeline": pid, "feature": name, "source": "bench"},
            )
        )
        for r in range(RUNS_PER_PIPELINE):
            ended = now - timedelta(minutes=10 * r)
            run = RunRecord(
                run_id=f"r{r}",
                herd="finance",
                pipeline=pid,
                outcome="succeeded" if r % 4 else "failed",
                started_at=iso(ended - timedelta(seconds=30)),
                ended_at=iso(ended),
                node=f"n{i % NODES}",
                totals={"read": 1000 + r, "written": 990, "dlq": 10, "filtered": r},
            )
            ops.append(Op.put(f"/runs/{pid}/r{r}", run.to_dict()))
    for p in range(PENDING):
        ops.append(Op.put(f"/lineage/pending/p{p}", {"ended_at": iso(now)}))
    for start in range(0, len(ops), 200):
        barn.txn([], ops[start : start + 200])
    lease = barn.lease_grant(600)
    for n in range(NODES):
        node = NodeRecord(f"n{n}", {"zone": "a"}, cpu_millis=64_000, memory_bytes=256 << 30)
        barn.put(f"/nodes/n{n}", node.to_dict(), lease=lease.id)


def measure(plane: ControlPlane, scrapes: int) -> dict[str, Any]:
    first_ms, size = scrape(plane)
    times = [scrape(plane)[0] for _ in range(scrapes)]
    return {
        "first_scrape_ms": first_ms,
        "scrape_p50_ms": statistics.median(times),
        "scrape_max_ms": max(times),
        "bytes": size,
        "scrapes": scrapes + 1,
    }


def churn(plane: ControlPlane, scrapes: int) -> float:
    assert plane.barn is not None
    times = []
    for i in range(scrapes):
        run = RunRecord(
            run_id=f"churn{i}",
            herd="finance",
            pipeline="finance/bench0000/validate-trades",
            outcome="succeeded",
            started_at=iso(datetime.now(UTC)),
            ended_at=iso(datetime.now(UTC)),
            totals={"read": 10, "written": 10},
        )
        plane.barn.put(f"/runs/finance/bench0000/validate-trades/churn{i}", run.to_dict())
        times.append(scrape(plane)[0])
    return statistics.median(times)


def series(plane: ControlPlane, prefix: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{plane.http_port}/metrics",
        headers={"Authorization": f"Bearer {plane.config.metrics_token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return sum(1 for line in reply.read().decode().splitlines() if line.startswith(prefix))


def run(pipelines: int, scrapes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runink-bench-metrics-") as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(ROOT / "example-repo", repo)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "bench")
        plane = ControlPlane(embedded_config(Path(tmp) / "state", repo, resync=3600))
        try:
            plane.start()
            wait_for(lambda: plane.barn and plane.barn.get(TEMPLATE), 60, "the repo applied")
            wait_for(lambda: series(plane, "runink_pipeline_info{") >= 4, 60, "status")
            if pipelines:
                seed(plane, pipelines)
                wait_for(
                    lambda: series(plane, "runink_pipeline_info{") >= pipelines,
                    300,
                    "the status of every pipeline",
                )
            result = measure(plane, scrapes)
            result["pipelines"] = series(plane, "runink_pipeline_info{")
            result["series"] = series(plane, "runink_")
            if pipelines:
                # a run lands before every scrape: the exporter rebuilds its families
                result["with_a_new_run_each_scrape_p50_ms"] = churn(plane, scrapes)
            return result
        finally:
            plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer scrapes (smoke run)")
    args = parser.parse_args()
    scrapes = 5 if args.quick else 30
    rows = [
        ("baseline: example repo only", run(0, scrapes)),
        (f"{PIPELINES:,} pipelines, {RUNS_PER_PIPELINE} runs each", run(PIPELINES, scrapes)),
    ]
    header = (
        f"{'server':<34} {'pipelines':>9} {'series':>7} {'first ms':>9} "
        f"{'p50 ms':>7} {'max ms':>7} {'KiB':>7}"
    )
    print(header)
    for name, r in rows:
        print(
            f"{name:<34} {r['pipelines']:>9} {r['series']:>7} {r['first_scrape_ms']:>9.1f} "
            f"{r['scrape_p50_ms']:>7.1f} {r['scrape_max_ms']:>7.1f} {r['bytes'] / 1024:>7.0f}"
        )
    big = rows[1][1]
    print(
        f"{PIPELINES:,} pipelines, a new run before each scrape: p50 "
        f"{big['with_a_new_run_each_scrape_p50_ms']:.1f} ms"
    )
    verdict = big["scrape_p50_ms"] < TARGET_MS and big["bytes"] < TARGET_BYTES
    print(
        f"target: < {TARGET_MS:.0f} ms and < {TARGET_BYTES / 2**20:.0f} MiB per scrape at "
        f"{PIPELINES:,} pipelines: {'met' if verdict else 'MISSED'}"
    )
    result = {
        "benchmark": "metrics",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "targets": {"scrape_ms": TARGET_MS, "bytes": TARGET_BYTES},
        "met": verdict,
        "results": {name: r for name, r in rows},
        "notes": [
            "Times are full HTTP requests over loopback, as Prometheus scrapes (no gzip).",
            "first_scrape_ms: the Barn exporter's caches are cold (every run record read);"
            " later scrapes re-read only runs whose mod_revision moved.",
        ],
    }
    out = ROOT / "bench" / "results" / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
