"""Slices vs. one process: the same 4-step pipeline, the same step code, one run.

jsonl source -> ValidateContract -> a Python user step -> jsonl sink, on N synthetic
~100-byte records (default N = 10^5, 10^6, 10^7), run two ways:

- slices: this runtime (4 processes joined by pipes, via the Executor);
- single: one Python process reading, validating, calling the user step and writing
  in a loop, with the very same StepImpl objects (the baseline);
- and, where this host can isolate (root), the slices once more as `runi run` and the
  agent start them: through the isolation forkserver (warm), each in its cgroup and
  namespaces, allowed one CPU each (`@requires(cpu="1")`; the herd's quota is 2).

Prints records/s for both, the ratio, and each slice's peak RSS; writes
bench/results/throughput.json. Targets (issue): slices >= 1.5x single on 2 cores,
>= 500k records/s, slice RSS flat (within 10%) from 10^5 to 10^7.

The "floor" line times each slice's own work (the library calls it makes on its batches)
in this one process, with no pipes, frames or neighbours on its core: the ratio the slices
would reach if moving records between processes were free.

Wall-clock numbers depend on what else the machine runs, so CPU time is reported too:
per slice in microseconds per record, and the "CPU bound": the ratio the slices would
reach on this many free cores with perfect overlap, single CPU / max(all slices' CPU /
cores, the busiest slice's CPU). The baseline runs with the slices' GC and malloc settings.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runink.compiler import Compiler, Plan  # noqa: E402
from runink.contracts import contract_from_data  # noqa: E402
from runink.repo import load_repo  # noqa: E402
from runink.runtime.connectors import read_source  # noqa: E402
from runink.runtime.executor import Executor, RunResult  # noqa: E402
from runink.runtime.framing import Batch  # noqa: E402
from runink.runtime.slice import settle_gc, settle_malloc  # noqa: E402
from runink.runtime.spawn import Spawner  # noqa: E402
from runink.steps.runtime import (  # noqa: E402
    StepContext,
    StepImpl,
    load_user_step,
    make_step,
    user_step,
)

SIZES = [int(float(a)) for a in sys.argv[1:]] or [10**5, 10**6, 10**7]

CONTRACT = """apiVersion: v3.2.0
kind: DataContract
id: reading
version: 1.0.0
schema:
  - name: readings
    properties:
      - {name: id, logicalType: string, required: true, logicalTypeOptions: {pattern: "^R[0-9]+$"}}
      - {name: sensor, logicalType: string, required: true}
      - {name: value, logicalType: number, required: true, logicalTypeOptions: {minimum: 0}}
      - {name: count, logicalType: integer, required: true}
      - name: unit
        logicalType: string
        enum: [{value: C}, {value: F}]
"""

STEP = """from runink import step

@step("Scale")
def scale(record):
    record["scaled"] = record["value"] * record["count"]
    return record
"""

FEATURE = """@herd("finance")
Feature: Bench
  Scenario: Throughput
    @source("jsonl://data/in.jsonl")
    @step("ValidateContract", contract="reading")
    @step("Scale")
    @sink("jsonl://out/out.jsonl")
    @requires(cpu="1", memory="512Mi")
"""


def make_repo(base: Path) -> Path:
    repo = base / "repo"
    shutil.copytree(ROOT / "example-repo", repo)
    (repo / "contracts/reading.yaml").write_text(CONTRACT)
    (repo / "steps/bench.py").write_text(STEP)
    (repo / "features/bench.dsl").write_text(FEATURE)
    (repo / "data").mkdir(exist_ok=True)
    return repo


def write_input(path: Path, n: int) -> None:
    chunk = 100_000
    with path.open("wb") as out:
        for start in range(0, n, chunk):
            out.write(
                b"".join(
                    orjson.dumps(
                        {
                            "id": f"R{i}",
                            "sensor": f"s-{i % 97:02d}",
                            "value": (i % 1000) / 10,
                            "count": i % 7,
                            "unit": "C" if i % 2 else "F",
                        }
                    )
                    + b"\n"
                    for i in range(start, min(start + chunk, n))
                )
            )


def bench_steps(repo: Path) -> tuple[StepImpl, StepImpl]:
    """The pipeline's two steps, as the slices build them: ValidateContract, Scale."""
    contract = contract_from_data(
        __import__("yaml").safe_load((repo / "contracts/reading.yaml").read_text())
    )
    ctx = StepContext(
        run_id="bench",
        herd="finance",
        pipeline="bench",
        step_id="v",
        contracts={"reading": contract},
        input_contract=None,
        mask_key=b"k" * 32,
    )
    validate = make_step("ValidateContract", {"contract": "reading"}, ctx)
    scale = user_step(load_user_step(repo / "steps/bench.py", "Scale"), {}, ctx)
    return validate, scale


def single_process(repo: Path, n: int, out: Path) -> tuple[float, float, int]:
    """The baseline: one process, same steps, same batch size; (seconds, CPU s, peak KB)."""
    validate, scale = bench_steps(repo)
    thresholds = gc.get_threshold()
    settle_malloc()  # what every slice does: the baseline gets it too
    settle_gc()
    start = time.perf_counter()
    cpu = time.process_time()
    written = 0
    with (repo / "data/in.jsonl").open("rb") as src, out.open("wb") as sink:
        batch: list[dict[str, object]] = []
        for line in src:
            batch.append(orjson.loads(line))
            if len(batch) == 1000:
                records = scale.process(validate.process(batch).records).records
                sink.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
                written += len(records)
                batch = []
        if batch:
            records = scale.process(validate.process(batch).records).records
            sink.write(b"".join(orjson.dumps(r) + b"\n" for r in records))
            written += len(records)
    assert written == n, (written, n)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    return seconds, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def slice_floors(repo: Path, n: int = 300_000) -> dict[str, float]:
    """Each slice's own work in CPU microseconds per record, timed in this process with
    the library calls the slice makes, but no pipes, no frames, no other process on its
    core: what the slices would cost if moving records between them were free."""
    validate, scale = bench_steps(repo)
    write_input(repo / "data/floor.jsonl", n)
    thresholds = gc.get_threshold()
    settle_gc()
    clock = time.process_time
    start = clock()
    read = [b for b, _ in read_source("jsonl://data/floor.jsonl", repo, 1000, check=False) if b]
    payloads = [(b.payload(), b.count, b.first_line) for b in read]
    source = clock() - start
    start = clock()
    valid = []
    for payload, count, first in payloads:
        batch, _, _ = Batch(count, payload=payload, first_line=first).check()
        valid.append(batch.select(validate.process(batch.records()).records).payload())
    checking = clock() - start
    start = clock()
    scaled = [
        Batch.of_records(scale.process(Batch.of_payload(p).records()).records).payload()
        for p in valid
    ]
    stepping = clock() - start
    start = clock()
    with (repo / "data/floor.out").open("wb") as out:
        for payload in scaled:
            out.write(payload + b"\n")
    sinking = clock() - start
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    seconds = {"source": source, "validate": checking, "scale": stepping, "sink": sinking}
    return {k: v / n * 1e6 for k, v in seconds.items()}


def rss_spread(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per slice: its largest peak RSS over all runs / its smallest (1.0 = flat)."""
    peaks: dict[str, list[int]] = {}
    for row in rows:
        for name, kb in row["slice_peak_rss_kb"].items():
            peaks.setdefault(name, []).append(kb)
    return {name: max(kb) / min(kb) for name, kb in peaks.items()}


def isolating_spawner(repo: Path) -> Spawner | None:
    """The spawner `runi run` uses by default, kept warm as an agent keeps it; None (and
    why, on stderr) where this host cannot isolate."""
    from agent.isolation import HerdIsolation, IsolatedSpawner, IsolationError

    if os.geteuid() != 0:
        print("  not root: no isolated runs", file=sys.stderr)
        return None
    try:
        herds = {h.name: HerdIsolation.from_herd(h, {}) for h in load_repo(repo).herds}
        return IsolatedSpawner(herds)
    except IsolationError as exc:
        print(f"  no isolated runs: {exc.message}", file=sys.stderr)
        return None


def timed_run(
    spawner: Spawner | None, plan: Plan, contracts: Any, repo: Path, run_dir: Path, n: int
) -> tuple[float, RunResult]:
    """One run of the plan; its wall-clock seconds and result (checked: every record out)."""
    start = time.perf_counter()
    result = Executor(spawner, timeout=3600).run(
        plan, contracts=contracts, repo_dir=repo, data_dir=repo, run_dir=run_dir
    )
    seconds = time.perf_counter() - start
    assert result.ok and result.totals["written"] == n, result.to_dict()
    shutil.rmtree(run_dir)
    return seconds, result


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp))
        plan = Compiler().compile(load_repo(repo), only="features/bench.dsl").plans[0]
        contracts = {c.id: c.document for c in load_repo(repo).contracts}
        isolated = isolating_spawner(repo)
        for n in SIZES:
            write_input(repo / "data/in.jsonl", n)
            run_dir = Path(tmp) / f"run-{n}"
            slices_s, result = timed_run(None, plan, contracts, repo, run_dir, n)
            isolated_s = None
            if isolated is not None:
                isolated_s, _ = timed_run(isolated, plan, contracts, repo, run_dir, n)
            single_s, single_cpu, single_kb = single_process(repo, n, Path(tmp) / "single.jsonl")
            (Path(tmp) / "single.jsonl").unlink()
            cpus = {s.id: s.cpu_seconds for s in result.slices}
            cores = os.cpu_count() or 1
            rows.append(
                {
                    "records": n,
                    "slices_s": slices_s,
                    "slices_records_per_s": n / slices_s,
                    "single_s": single_s,
                    "single_records_per_s": n / single_s,
                    "ratio": single_s / slices_s,
                    "isolated_records_per_s": n / isolated_s if isolated_s else None,
                    "isolated_ratio": single_s / isolated_s if isolated_s else None,
                    "slice_peak_rss_kb": {s.id: s.max_rss_kb for s in result.slices},
                    "slice_cpu_seconds": cpus,
                    "slice_cpu_us_per_record": {k: v / n * 1e6 for k, v in cpus.items()},
                    "single_cpu_seconds": single_cpu,
                    "single_cpu_us_per_record": single_cpu / n * 1e6,
                    "cpu_bound_ratio": single_cpu
                    / max(sum(cpus.values()) / cores, max(cpus.values())),
                    "single_peak_rss_kb": single_kb,
                }
            )
            print(f"  measured {n:,} records", file=sys.stderr)
        floors = slice_floors(repo)
        if isolated is not None:
            isolated.close()
    print(
        f"{'records':>11} {'slices rec/s':>13} {'single rec/s':>13} {'ratio':>6}"
        f" {'CPU bound':>9} {'isolated rec/s':>15} {'ratio':>6}  peak RSS per slice (MB)"
    )
    for r in rows:
        rss = ", ".join(f"{k} {v / 1024:.0f}" for k, v in r["slice_peak_rss_kb"].items())
        iso = (
            f"{r['isolated_records_per_s']:>15,.0f} {r['isolated_ratio']:>5.2f}x"
            if r["isolated_records_per_s"]
            else f"{'-':>15} {'-':>6}"
        )
        print(
            f"{r['records']:>11,} {r['slices_records_per_s']:>13,.0f} "
            f"{r['single_records_per_s']:>13,.0f} {r['ratio']:>5.2f}x"
            f" {r['cpu_bound_ratio']:>8.2f}x {iso}  {rss}"
        )
    spread = rss_spread(rows)
    cores = os.cpu_count() or 1
    single_us = rows[-1]["single_cpu_us_per_record"]
    floor_ratio = single_us / max(sum(floors.values()) / cores, max(floors.values()))
    if len(rows) > 1:
        print(
            "peak RSS, largest run vs smallest (target <= 1.10x): "
            + ", ".join(f"{k} {v:.2f}x" for k, v in spread.items())
        )
    print("CPU microseconds per record, per slice (where the pipeline's work goes):")
    for r in rows:
        us = r["slice_cpu_us_per_record"]
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in us.items())
        print(
            f"{r['records']:>11,}  {cpu}; all slices {sum(us.values()):.2f}"
            f"  (single process: {r['single_cpu_us_per_record']:.2f})"
        )
    print(
        "floor, each slice's own work timed in one process (no pipes, no frames): "
        + ", ".join(f"{k} {v:.2f}" for k, v in floors.items())
        + f"; all {sum(floors.values()):.2f} -> at best {floor_ratio:.2f}x the single process"
        f" on {cores} cores"
    )
    out = ROOT / "bench" / "results" / "throughput.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "throughput",
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "pipeline": "jsonl -> ValidateContract -> user step -> jsonl",
                "baseline": "one process calling the same StepImpls in a loop",
                "spawner": "local (plain processes; isolation's cost: bench/spawn.py)",
                "rows": rows,
                "slice_peak_rss_spread": spread,
                "slice_floor_us_per_record": floors,
                "floor_ratio": floor_ratio,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
