"""Full vs. incremental compile of generated repositories (10 to 10,000 features).

For each size: a repository copied from example-repo (its herds, contracts and user
steps) plus N generated features. We time, in one run and on the same machine:

- full: a fresh Compiler compiling the snapshot (every feature parsed and compiled);
- incremental: the warm Compiler after one feature file changed;
- contract: the warm Compiler after a contract that a tenth of the features use changed;
- load: reading and validating the repository into a snapshot (both paths pay it).

Prints a table and writes bench/results/compile.json.
"""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runink.compiler import Compiler  # noqa: E402
from runink.repo import load_repo  # noqa: E402

SIZES = [int(a) for a in sys.argv[1:]] or [10, 100, 1_000, 10_000]
REPEAT = 3

FEATURE = """@herd("{herd}")
Feature: Generated {i}

  Scenario: Ingest {i}
    @source("jsonl://data/in_{i}.jsonl", contract="{contract}")
    @step("Normalize", fields=["{field}"], ops=["trim"])
    @step("ValidateContract", contract="{contract}")
    @step("Filter", when="record.{field} is not null")
    @sink("jsonl://out/out_{i}.jsonl")
    @requires(cpu="100m", memory="64Mi")
    {trigger}

    Given generated records
    Then `record.{field} is not null`
"""

# A tenth of the features use "customer"; the rest "order".
CHOICES = [("ecommerce", "order", "status")] * 9 + [("ecommerce", "customer", "email")]


def make_repo(base: Path, n: int) -> Path:
    repo = base / f"repo-{n}"
    shutil.copytree(ROOT / "example-repo", repo)
    shutil.rmtree(repo / "features")
    (repo / "features").mkdir()
    shutil.rmtree(repo / "golden")
    for i in range(n):
        herd, contract, field = CHOICES[i % len(CHOICES)]
        trigger = '@schedule(cron="*/15 * * * *")' if i % 2 else ""
        text = FEATURE.format(herd=herd, contract=contract, field=field, i=i, trigger=trigger)
        (repo / f"features/gen_{i:05d}.dsl").write_text(text)
    return repo


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def bench_size(base: Path, n: int) -> dict[str, object]:
    repo = make_repo(base, n)
    loads, fulls, incrementals, contracts = [], [], [], []
    for r in range(REPEAT):
        load_s, snapshot = timed(load_repo, repo)
        assert snapshot.ok, [str(f) for f in snapshot.findings][:5]
        compiler = Compiler()
        full_s, result = timed(compiler.compile, snapshot)
        assert result.ok and len(result.plans) == n, [str(f) for f in result.findings][:5]
        loads.append(load_s)
        fulls.append(full_s)

        feature = repo / "features/gen_00000.dsl"
        feature.write_text(feature.read_text().replace("Generated 0", f"Generated 0 r{r}"))
        changed = load_repo(repo)
        inc_s, inc = timed(compiler.compile, changed)
        assert inc.stats.compiled == 1 and inc.ok
        incrementals.append(inc_s)

        contract = repo / "contracts/customer.yaml"
        contract.write_text(contract.read_text().replace("version: 1.3", f"version: 1.{3 + r + 1}"))
        contract_snapshot = load_repo(repo)
        con_s, con = timed(compiler.compile, contract_snapshot)
        assert con.ok
        contracts.append(con_s)
        contract.write_text(contract.read_text().replace(f"version: 1.{3 + r + 1}", "version: 1.3"))
    return {
        "features": n,
        "load_s": statistics.median(loads),
        "full_s": statistics.median(fulls),
        "incremental_s": statistics.median(incrementals),
        "contract_change_s": statistics.median(contracts),
        "contract_change_recompiled": con.stats.compiled,
        "speedup": statistics.median(fulls) / statistics.median(incrementals),
    }


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in SIZES:
            rows.append(bench_size(Path(tmp), n))
            row = rows[-1]
            print(f"  measured {n} features", file=sys.stderr)
    header = (
        f"{'features':>9} {'load s':>9} {'full s':>9} {'1-file s':>9} {'speedup':>9} "
        f"{'contract s':>11} {'recompiled':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['features']:>9} {row['load_s']:>9.3f} {row['full_s']:>9.3f} "
            f"{row['incremental_s']:>9.4f} {row['speedup']:>8.0f}x "
            f"{row['contract_change_s']:>11.3f} {row['contract_change_recompiled']:>10}"
        )
    out = ROOT / "bench" / "results" / "compile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "compile",
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "repeat": REPEAT,
        "baseline": "full compile by a fresh Compiler (every feature parsed and compiled)",
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
