"""Lineage under a burst: 1,000 runs finish at once; how long until all are signed on git?

A real control plane (``embedded_config``: Barn, API, controllers, a generated SSH
signing key) serves a copy of example-repo. 1,000 run reports are written from 8
threads the way ``Api.report_run`` writes them: the baseline (lineage off) puts the run
record alone; lineage on puts the run record and ``/lineage/pending/<run_id>`` in one
transaction; a third row runs lineage as before its latency fix (schema checks of the
pending runs in the server's own process). Each row pools two bursts, each on a fresh
plane. Measured: each report's latency (what a finishing run waits for), the time from
the last report until every run is committed and signed on ``runink/lineage``, and the
number of commits. Prints a table and writes bench/results/lineage.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from reconciler.embedded import embedded_config
from reconciler.server import ControlPlane
from runink.api import keys
from runink.api.records import PACKED_EVENTS, pack_events
from runink.barn import Op
from runink.compiler import Compiler
from runink.lineage import run_events, to_dict
from runink.repo import load_repo
from runink.runtime.executor import RunResult
from runink.runtime.ids import uuid7

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = "finance/trades/validate-trades"
THREADS = 8
OFF = "lineage off (run record only)"
ON = "lineage on (run record + pending, one txn)"
IN_PROCESS = "lineage on, schema checks in the server process (before)"
MODES = (OFF, ON, IN_PROCESS)


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
        out.append((record, {**record, "events_json": orjson.dumps(events)}))
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
            # What Api.report_run queues: the events as the agent sent them, packed.
            events = {PACKED_EVENTS: pack_events(pending["events_json"])}
            value = {k: v for k, v in pending.items() if k != "events_json"} | events
            barn.txn(
                [],
                [Op.put(key, record), Op.put(keys.lineage_pending_key(record["run_id"]), value)],
            )
        else:
            barn.txn([], [Op.put(key, record)])  # Api.report_run without events
        return time.perf_counter() - started

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(report, runs))


@dataclass
class Phase:
    """One burst on a fresh control plane: its latencies and, with lineage, its commits."""

    mode: str
    latencies: list[float]
    drained: float = 0.0
    files: int = 0
    commits: int = 0
    signed: int = 0


def phase(root: Path, mode: str, count: int) -> Phase:
    """``count`` reports on a fresh plane over a fresh copy of example-repo."""
    root.mkdir(parents=True)
    repo = root / "repo"
    shutil.copytree(ROOT / "example-repo", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pipelines")
    revision = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
    runs = reports(repo, count, revision)
    plane = ControlPlane(embedded_config(root / "state", repo, resync=3600))
    plane.start()
    if mode == IN_PROCESS and plane.lineage is not None:
        # The schema checks of pending runs, as before this bench's fix: in the server's
        # process (a checker whose worker "failed" checks in-process).
        plane.lineage._schemas.failures = 99
    try:
        assert plane.barn is not None
        deadline = time.monotonic() + 60
        while not (kv := plane.barn.get("/sources/local")) or not kv.value.get("applied_revision"):
            if time.monotonic() > deadline:
                raise SystemExit("bench: the example repo was not applied")
            time.sleep(0.1)
        result = Phase(mode, burst(plane, runs, lineage=mode != OFF))
        if mode == OFF:
            return result
        last_report = time.monotonic()
        while plane.barn.range("/lineage/pending/", limit=1).kvs:
            time.sleep(0.02)
        result.drained = time.monotonic() - last_report
    finally:
        plane.stop()
    signers = root / "state" / "lineage" / "allowed_signers"
    branch = "refs/heads/runink/lineage"
    result.commits = len(git(repo, "rev-list", branch).splitlines())
    statuses = git(
        repo, "-c", f"gpg.ssh.allowedSignersFile={signers}", "log", "--format=%G?", branch
    ).split()
    result.signed = statuses.count("G")
    result.files = len(git(repo, "ls-tree", "-r", "--name-only", branch).splitlines())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runink-bench-lineage-"))
    try:
        # ABBA order: drift of a shared machine (other work, page cache) hits both alike.
        order = (OFF, ON, IN_PROCESS, IN_PROCESS, ON, OFF)
        phases = [phase(tmp / f"{i}-{mode}", mode, args.runs) for i, mode in enumerate(order)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = {mode: [x for p in phases if p.mode == mode for x in p.latencies] for mode in MODES}
    committed = [p for p in phases if p.mode == ON]
    drained = max(p.drained for p in committed)
    title = f"report latency, {args.runs} runs x 2, {THREADS} threads"
    print(f"{title:<58} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    for name, lat in rows.items():
        p50, p90, p99 = (percentile(lat, q) * 1e3 for q in (0.5, 0.9, 0.99))
        print(f"{name:<58} {p50:>8.2f} {p90:>8.2f} {p99:>8.2f}")
    for p in committed:
        print(
            f"all {p.files} runs committed and signed {p.drained:.2f} s after the last report, "
            f"in {p.commits} commits ({p.signed} verified signatures)"
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
            "committed_files": min(p.files for p in committed),
            "commits": max(p.commits for p in committed),
            "verified_signatures": min(p.signed for p in committed),
            "all_committed_after_last_report_s": round(drained, 3),
            "report_latency_ms": {
                name: {
                    f"p{int(q * 100)}": round(percentile(lat, q) * 1e3, 3) for q in (0.5, 0.9, 0.99)
                }
                for name, lat in rows.items()
            },
        },
        "notes": [
            "Reports are written to Barn directly (as Api.report_run does), not over gRPC:"
            " the difference between the rows is what lineage adds to a finishing run.",
            "Each row pools two bursts, each on a fresh control plane and repository, run in"
            " the order off, on, in-process, in-process, on, off: every burst starts from the"
            " same store size, and drift of the shared machine hits every row alike.",
            "The controller batches up to 500 runs per commit and waits up to 0.5 s for a"
            " batch to fill; commits are built by git plumbing and signed with ssh-keygen.",
            "Where the time went (py-spy): (1) checking each pending run against the"
            " OpenLineage schemas (jsonschema, ~4 ms of CPU per run) in the server's process"
            " held the GIL that every report needs; (2) the garbage collector's full passes"
            " over the events kept as hundreds of objects per run in Barn and in the"
            " controller's queue (p99 ~150-300 ms).",
            "Fixes: the checks run in one worker process at nice 10, and facets already"
            " checked are not checked again (2 ms -> 0.7 ms per event); events wait in Barn"
            " zlib-packed (10 KB of JSON -> 1.4 KB, one string), and a run waiting for its"
            " batch keeps its file's bytes, not its parsed events. The 'before' row runs the"
            " checks in-process again (with the other fixes), measured in the same run.",
        ],
    }
    out = ROOT / "bench" / "results" / "lineage.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
