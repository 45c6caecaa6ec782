"""Lineage under a burst: 1,000 runs finish at once; how long until all are signed on git?

A real control plane (``embedded_config``: Barn, API, controllers, a generated SSH
signing key) serves a copy of example-repo. 1,000 run reports are written from 8
threads the way ``Api.report_run`` writes them: the baseline (lineage off) puts the run
record alone; lineage on puts the run record and ``/lineage/pending/<run_id>`` in one
transaction. Measured: each report's latency (what a finishing run waits for), the time
from the last report until every run is committed and signed on ``runink/lineage``, and
the number of commits. Prints a table and writes bench/results/lineage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.embedded import embedded_config
from reconciler.server import ControlPlane
from runink.api import keys
from runink.barn import Op
from runink.compiler import Compiler
from runink.lineage import run_events, to_dict
from runink.repo import load_repo
from runink.runtime.executor import RunResult
from runink.runtime.ids import uuid7

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = "finance/trades/validate-trades"
THREADS = 8


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Bench", "-c", "user.email=bench@runink.dev", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout.strip()


def reports(repo: Path, count: int, revision: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(run record, pending value) of ``count`` finished runs of validate-trades."""
    snapshot = load_repo(repo)
    plan = next(p for p in Compiler().compile(snapshot).plans if p.pipeline == PIPELINE)
    contracts = {c.id: c for c in snapshot.contracts}
    out = []
    for _ in range(count):
        result = RunResult(
            run_id=uuid7(),
            pipeline=PIPELINE,
            herd="finance",
            revision=revision,
            started_at="2026-11-23T20:43:32+00:00",
            ended_at="2026-11-23T20:44:01+00:00",
            outcome="succeeded",
            slices=(),
            totals={"read": 10, "written": 8, "dlq": 2},
            problems=(),
            run_dir="",
            dlq="",
        )
        events = [to_dict(e) for e in run_events(replace(plan), result, contracts=contracts)]
        record = {
            "run_id": result.run_id,
            "herd": "finance",
            "pipeline": PIPELINE,
            "revision": revision,
            "outcome": "succeeded",
            "ended_at": result.ended_at,
        }
        out.append((record, {**record, "events": events}))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def burst(
    plane: ControlPlane, runs: list[tuple[dict[str, Any], dict[str, Any]]], lineage: bool
) -> list[float]:
    barn = plane.barn
    assert barn is not None

    def report(item: tuple[dict[str, Any], dict[str, Any]]) -> float:
        record, pending = item
        key = keys.run_key("finance", PIPELINE, record["run_id"])
        started = time.perf_counter()
        if lineage:
            barn.txn(
                [],
                [Op.put(key, record), Op.put(keys.lineage_pending_key(record["run_id"]), pending)],
            )
        else:
            barn.put(key, record)
        return time.perf_counter() - started

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(report, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runink-bench-lineage-"))
    try:
        repo = tmp / "repo"
        shutil.copytree(ROOT / "example-repo", repo)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "pipelines")
        revision = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
        runs_off = reports(repo, args.runs, revision)
        runs_on = reports(repo, args.runs, revision)
        plane = ControlPlane(embedded_config(tmp / "state", repo, resync=3600)).start()
        try:
            assert plane.barn is not None
            deadline = time.monotonic() + 60
            while not (kv := plane.barn.get("/sources/local")) or not kv.value.get(
                "applied_revision"
            ):
                if time.monotonic() > deadline:
                    raise SystemExit("bench: the example repo was not applied")
                time.sleep(0.1)
            off = burst(plane, runs_off, lineage=False)
            on = burst(plane, runs_on, lineage=True)
            last_report = time.monotonic()
            while plane.barn.range("/lineage/pending/", limit=1).kvs:
                time.sleep(0.02)
            drained = time.monotonic() - last_report
        finally:
            plane.stop()
        commits = git(repo, "rev-list", "refs/heads/runink/lineage").splitlines()
        signers = tmp / "state" / "lineage" / "allowed_signers"
        statuses = git(
            repo,
            "-c",
            f"gpg.ssh.allowedSignersFile={signers}",
            "log",
            "--format=%G?",
            "refs/heads/runink/lineage",
        ).split()
        files = git(repo, "ls-tree", "-r", "--name-only", "refs/heads/runink/lineage").splitlines()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = {
        "lineage off (run record only)": off,
        "lineage on (run record + pending, one txn)": on,
    }
    title = f"report latency, {args.runs} runs, {THREADS} threads"
    print(f"{title:<46} {'p50 ms':>8} {'p99 ms':>8}")
    for name, lat in rows.items():
        print(
            f"{name:<46} {statistics.median(lat) * 1e3:>8.2f} {percentile(lat, 0.99) * 1e3:>8.2f}"
        )
    print(
        f"all {len(files)} runs committed and signed {drained:.2f} s after the last report, "
        f"in {len(commits)} commits ({statuses.count('G')} verified signatures)"
    )
    result = {
        "benchmark": "lineage",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "targets": {
            "all_committed_after_last_run_s": 5.0,
            "completion_latency": "unchanged within noise",
        },
        "results": {
            "runs": args.runs,
            "committed_files": len(files),
            "commits": len(commits),
            "verified_signatures": statuses.count("G"),
            "all_committed_after_last_report_s": round(drained, 3),
            "report_latency_ms": {
                name: {
                    "p50": round(statistics.median(lat) * 1e3, 3),
                    "p99": round(percentile(lat, 0.99) * 1e3, 3),
                }
                for name, lat in rows.items()
            },
        },
        "notes": [
            "Reports are written to Barn directly (as Api.report_run does), not over gRPC:"
            " the difference between the two rows is what lineage adds to a finishing run.",
            "The controller batches up to 500 runs per commit and waits up to 0.5 s for a"
            " batch to fill; commits are built by git plumbing and signed with ssh-keygen.",
            "With the controller held (no commits at all) the lineage-on latency is the same:"
            " the extra cost is Barn journalling the events (~6 KB per run), not the"
            " controller. It is paid by the report after the run ended, never by its data.",
        ],
    }
    out = ROOT / "bench" / "results" / "lineage.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
