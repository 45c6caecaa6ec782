"""Pull-request audit vs. checking everything, on generated repositories of 100 to 10,000 features.

Run: ``.venv/bin/python bench/audit.py [SIZES...]`` (default 100 1000 10000). For each
size a git repository is generated in a tmp dir: N features, each with a golden set,
and N/3 contracts, each used by 3 features. The PR (one commit) changes one contract
compatibly (a new optional property, minor version bump), so 3 pipelines are affected.

Side by side, in the same run:

* audit: ``runink.audit.audit(repo, base, head)`` in-process (lint and compile of what
  the change touches, contract diff, affected pipelines, their 3 golden tests,
  desired-state diff); median of 3;
* full: what a CI without the audit does: lint + compile of the whole head tree, and
  a golden run of every scenario (in parallel up to the core count). Above 100
  features the golden runs are measured on a sample of 30 and extrapolated
  (marked ``estimated``): thousands of real runs would take hours.

Targets: the audit at 10,000 features costs at most 2x its cost at 100; under 5 s at
1,000. Prints a table and writes bench/results/audit.json.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runink.audit import audit  # noqa: E402
from runink.audit.golden import run_affected  # noqa: E402
from runink.compiler import Compiler  # noqa: E402
from runink.repo import load_repo  # noqa: E402

SIZES = [int(a) for a in sys.argv[1:]] or [100, 1_000, 10_000]
REPEAT = 3
SAMPLE = 30

SETTINGS = """apiVersion: runink.dev/v1
kind: Repository
metadata: {name: generated}
spec:
  defaultHerd: core
  lineage: {branch: runink/lineage, signing: none}
"""
HERD = """apiVersion: runink.dev/v1
kind: Herd
metadata: {name: core}
spec:
  quota: {cpu: "2", memory: 4Gi, pids: 512, slices: 64}
  isolation: best-effort
"""
CONTRACT = """apiVersion: v3.1.0
kind: DataContract
id: c{k:05d}
version: 1.0.0
status: active
schema:
  - name: records
    properties:
      - name: id
        logicalType: string
        required: true
        primaryKey: true
        primaryKeyPosition: 1
      - name: value
        logicalType: integer
        required: true
        logicalTypeOptions: {{minimum: 0}}
"""
FEATURE = """Feature: Generated {i}

  Scenario: Ingest
    @source("jsonl://data/in_{i:05d}.jsonl", contract="c{k:05d}")
    @step("ValidateContract", contract="c{k:05d}")
    @sink("jsonl://out/out_{i:05d}.jsonl")
    @golden("golden/f{i:05d}/ingest")

    Given records
    Then they are valid
"""
RECORDS = '{"id": "a", "value": 1}\n{"id": "b", "value": 2}\n'


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@runink.dev", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_repo(base: Path, n: int) -> tuple[Path, str, float]:
    """The generated repository, its base commit, and the seconds generating took."""
    start = time.perf_counter()
    repo = base / f"repo-{n}"
    write(repo / "runink.yaml", SETTINGS)
    write(repo / "herds/core.yaml", HERD)
    for k in range((n + 2) // 3):
        write(repo / f"contracts/c{k:05d}.yaml", CONTRACT.format(k=k))
    for i in range(n):
        write(repo / f"features/f{i:05d}.dsl", FEATURE.format(i=i, k=i // 3))
        write(repo / f"golden/f{i:05d}/ingest/input.jsonl", RECORDS)
        write(repo / f"golden/f{i:05d}/ingest/expected.jsonl", RECORDS)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base_sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    contract = repo / "contracts/c00000.yaml"
    contract.write_text(
        contract.read_text().replace("version: 1.0.0", "version: 1.1.0")
        + "      - name: note\n        logicalType: string\n"
    )
    git(repo, "commit", "-q", "-am", "c00000: optional note")
    return repo, base_sha, time.perf_counter() - start


def bench_size(tmp: Path, n: int) -> dict[str, object]:
    repo, base, generate_s = make_repo(tmp, n)
    audits = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        report = audit(repo, base, "HEAD")
        audits.append(time.perf_counter() - start)
        assert report.ok, [str(f) for f in report.findings][:5]
        assert len(report.affected) == 3 and len(report.golden) == 3, report.affected
    start = time.perf_counter()
    snapshot = load_repo(repo)
    compiled = Compiler().compile(snapshot)
    lint_compile_s = time.perf_counter() - start
    assert snapshot.ok and compiled.ok and len(compiled.plans) == n
    sample = compiled.plans if n <= 100 else compiled.plans[:SAMPLE]
    start = time.perf_counter()
    outcomes = run_affected(sample, snapshot, repo, lambda p: None)
    sample_s = time.perf_counter() - start
    assert all(o.passed for o in outcomes)
    golden_s = sample_s * n / len(sample)
    return {
        "features": n,
        "contracts": (n + 2) // 3,
        "generate_s": generate_s,
        "audit_s": statistics.median(audits),
        "audit_runs_s": audits,
        "audit_affected": len(report.affected),
        "audit_features_compiled": report.features_compiled,
        "full_lint_compile_s": lint_compile_s,
        "full_golden_s": golden_s,
        "full_golden_estimated": len(sample) < n,
        "full_total_s": lint_compile_s + golden_s,
    }


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="runink-bench-audit-") as tmp:
        for n in SIZES:
            rows.append(bench_size(Path(tmp), n))
            print(f"  measured {n} features", file=sys.stderr)
    header = (
        f"{'features':>9} {'audit s':>8} {'compiled':>8} {'full lint+compile s':>20} "
        f"{'full golden s':>14} {'full total s':>13} {'speedup':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        mark = "~" if row["full_golden_estimated"] else " "
        print(
            f"{row['features']:>9} {row['audit_s']:>8.2f} {row['audit_features_compiled']:>8} "
            f"{row['full_lint_compile_s']:>20.2f} {mark}{row['full_golden_s']:>13.1f} "
            f"{mark}{row['full_total_s']:>12.1f} "
            f"{row['full_total_s'] / row['audit_s']:>7.0f}x"  # type: ignore[operator]
        )
    smallest, largest = rows[0], rows[-1]
    ratio = largest["audit_s"] / smallest["audit_s"]  # type: ignore[operator]
    print(
        f"audit at {largest['features']} / at {smallest['features']} features: {ratio:.2f}x "
        "(target <= 2x); ~ = golden runs extrapolated from a sample of "
        f"{SAMPLE}"
    )
    out = ROOT / "bench" / "results" / "audit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "audit",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "repeat": REPEAT,
        "pr": "one contract changed (optional property, minor bump), used by 3 features",
        "baseline": "lint + compile of the whole tree, and a golden run of every scenario "
        f"(above 100 features extrapolated from {SAMPLE} runs)",
        "targets": {"audit_10000_over_100": 2.0, "audit_1000_s": 5.0},
        "audit_largest_over_smallest": ratio,
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
