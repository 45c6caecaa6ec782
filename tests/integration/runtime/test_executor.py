"""Runs as process graphs: real slices, real pipes, real files; nothing lost."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from runink.compiler import Compiler, Plan
from runink.repo import load_repo
from runink.runtime.executor import Executor, RunResult, SliceStatus
from runink.runtime.spawn import LocalProcess, LocalSpawner, SliceLaunch

pytestmark = pytest.mark.timeout(120)

COPY = """@herd("finance")
Feature: Copy
  Scenario: Copy raw
    @source("jsonl://data/raw.jsonl")
    @sink("jsonl://out/all.jsonl")
    @sink("jsonl://out/late.jsonl", when="record.n >= 5")
"""


class RecordingSpawner(LocalSpawner):
    """The local spawner, remembering the processes it started (by slice id)."""

    def __init__(self) -> None:
        self.started: dict[str, LocalProcess] = {}

    def spawn(self, launch: SliceLaunch) -> LocalProcess:
        process = super().spawn(launch)
        self.started[launch.slice_id.rsplit("/", 1)[-1]] = process
        return process


def copy_plan(repo: Path, feature: str = COPY) -> Plan:
    (repo / "features/copy.dsl").write_text(feature)
    result = Compiler().compile(load_repo(repo), only="features/copy.dsl")
    assert result.ok, [str(f) for f in result.findings]
    return result.plans[0]


def write_input(repo: Path, lines: list[str]) -> None:
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data/raw.jsonl").write_text("".join(line + "\n" for line in lines))


def run(repo: Path, plan: Plan, run_dir: Path, spawner: LocalSpawner | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return Executor(spawner, timeout=60).run(
        plan,
        contracts={},
        repo_dir=repo,
        data_dir=repo,
        run_dir=run_dir,
        **kw,  # type: ignore[arg-type]
    )


def test_records_flow_to_every_sink_and_when_routes(example_repo: Path, tmp_path: Path) -> None:
    write_input(example_repo, [json.dumps({"n": i}) for i in range(10)])
    result = run(example_repo, copy_plan(example_repo), tmp_path / "run")
    assert result.ok, result.to_dict()
    all_lines = (tmp_path / "run/out/all.jsonl").read_text().splitlines()
    late = (tmp_path / "run/out/late.jsonl").read_text().splitlines()
    assert [json.loads(x)["n"] for x in all_lines] == list(range(10))
    assert [json.loads(x)["n"] for x in late] == [5, 6, 7, 8, 9]
    assert result.totals == {"read": 10, "written": 15, "dlq": 0, "filtered": 0}
    saved = json.loads((tmp_path / "run/run.json").read_text())
    assert saved["outcome"] == "succeeded" and saved["run_id"] == result.run_id


def test_malformed_lines_reach_the_dlq_with_a_reason_and_the_rest_flows(
    example_repo: Path, tmp_path: Path
) -> None:
    write_input(example_repo, ['{"n": 1}', "{broken", '"a string"', '{"n": 7}'])
    result = run(example_repo, copy_plan(example_repo), tmp_path / "run")
    assert result.ok
    dlq = [json.loads(x) for x in (tmp_path / "run/dlq.jsonl").read_text().splitlines()]
    assert [(d["record"], d["step"]) for d in dlq] == [
        ("{broken", "source"),
        ('"a string"', "source"),
    ]
    assert "line 2: not JSON" in dlq[0]["reason"] and dlq[0]["run_id"] == result.run_id
    assert result.totals == {"read": 4, "written": 3, "dlq": 2, "filtered": 0}


FILTER = """@herd("finance")
Feature: Copy
  Scenario: Keep small
    @source("jsonl://data/raw.jsonl")
    @step("Filter", when="record.n < 5")
    @sink("jsonl://out/small.jsonl")
"""


def test_a_source_read_by_one_step_leaves_its_lines_to_it_and_books_nothing_else(
    example_repo: Path, tmp_path: Path
) -> None:
    # The source sends these lines unparsed; the Filter slice finds the bad ones. What the
    # user sees is what a source checking its own lines (a tee, below) reports.
    lines = ['{"n": 1}', "{broken", "", '"a string"', '{"n": 7}', "   ", '{"n": 3}']
    write_input(example_repo, lines)
    filtered = run(example_repo, copy_plan(example_repo, FILTER), tmp_path / "filter")
    assert filtered.ok, filtered.to_dict()
    write_input(example_repo, lines)
    teed = run(example_repo, copy_plan(example_repo), tmp_path / "tee")
    assert teed.ok, teed.to_dict()

    def source(result: RunResult) -> dict[str, int]:
        (status,) = (s for s in result.slices if s.kind == "source")
        return {k: status.counts[k] for k in ("in", "out", "dlq")}

    def dlq(run_dir: Path) -> list[tuple[str, str, str]]:
        entries = [json.loads(x) for x in (run_dir / "dlq.jsonl").read_text().splitlines()]
        return [(e["record"], e["reason"], e["step"]) for e in entries]

    def checks_own_lines(run_dir: Path) -> bool:
        (spec,) = run_dir.glob(".runink/slices/*/source.json")
        return bool(json.loads(spec.read_text())["check_lines"])

    assert not checks_own_lines(tmp_path / "filter") and checks_own_lines(tmp_path / "tee")
    assert source(filtered) == source(teed) == {"in": 5, "out": 3, "dlq": 2}
    assert dlq(tmp_path / "filter") == dlq(tmp_path / "tee")
    assert [reason.split(":")[0] for _, reason, _ in dlq(tmp_path / "filter")] == [
        "line 2",
        "line 4",
    ]
    (step,) = (s for s in filtered.slices if s.kind == "step")
    assert (step.counts["in"], step.counts["consumed"], step.counts["filtered"]) == (3, 2, 1)
    assert filtered.totals == {"read": 5, "written": 2, "dlq": 2, "filtered": 1}
    assert not filtered.problems


def test_a_when_that_cannot_be_evaluated_sends_a_copy_to_the_dlq(
    example_repo: Path, tmp_path: Path
) -> None:
    write_input(example_repo, ['{"n": 1}', '{"n": "many"}'])
    result = run(example_repo, copy_plan(example_repo), tmp_path / "run")
    assert result.ok
    dlq = [json.loads(x) for x in (tmp_path / "run/dlq.jsonl").read_text().splitlines()]
    assert dlq[0]["record"] == {"n": "many"} and "when=" in dlq[0]["reason"]
    assert len((tmp_path / "run/out/all.jsonl").read_text().splitlines()) == 2


def test_empty_input_is_a_successful_empty_run(example_repo: Path, tmp_path: Path) -> None:
    write_input(example_repo, [])
    result = run(example_repo, copy_plan(example_repo), tmp_path / "run")
    assert result.ok and result.totals["read"] == 0
    assert (tmp_path / "run/out/all.jsonl").read_text() == ""


def test_a_10_mb_record_flows(example_repo: Path, tmp_path: Path) -> None:
    write_input(example_repo, [json.dumps({"n": 9, "blob": "x" * (10 * 1024 * 1024)})])
    result = run(example_repo, copy_plan(example_repo), tmp_path / "run")
    assert result.ok, result.to_dict()
    assert (tmp_path / "run/out/late.jsonl").stat().st_size > 10 * 1024 * 1024


def test_a_missing_source_fails_the_run_with_the_reason(example_repo: Path, tmp_path: Path) -> None:
    plan = copy_plan(example_repo)
    result = run(example_repo, plan, tmp_path / "run")
    assert not result.ok
    source = next(s for s in result.slices if s.id == "source")
    assert source.state == "failed" and "does not exist" in (source.error or "")
    assert not (tmp_path / "run/out/all.jsonl").exists()


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """Make ``directory`` read-only for real: a read-only bind mount as root (root
    ignores permission bits), plain permissions otherwise."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True, timeout=30)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(directory)], check=True, timeout=30)
        yield
    finally:
        subprocess.run(["umount", str(directory)], check=True, timeout=30)


def test_a_read_only_sink_directory_fails_cleanly(example_repo: Path, tmp_path: Path) -> None:
    write_input(example_repo, ['{"n": 1}'])
    out = tmp_path / "run/out"
    out.mkdir(parents=True)
    with read_only(out):
        result = run(example_repo, copy_plan(example_repo), tmp_path / "run")
    assert not result.ok
    errors = [s.error or "" for s in result.slices if s.state == "failed"]
    assert any("Read-only file system" in e or "Permission denied" in e for e in errors), errors
    assert all(s.state in ("succeeded", "failed", "cancelled") for s in result.slices)
    assert not (out / "all.jsonl").exists() and not (out / "late.jsonl").exists()


def test_killing_a_slice_mid_run_fails_the_run_and_leaves_no_partial_output(
    example_repo: Path, tmp_path: Path
) -> None:
    (example_repo / "data").mkdir(exist_ok=True)
    fifo = example_repo / "data/raw.jsonl"
    os.mkfifo(fifo)
    release = threading.Event()

    def feed() -> None:  # a source that keeps its input open: the run stays mid-stream
        with fifo.open("w") as out:
            out.write("".join(json.dumps({"n": i}) + "\n" for i in range(2500)))
            out.flush()
            release.wait(60)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    spawner = RecordingSpawner()
    killed: list[int] = []

    def kill_sink_once_it_has_data(statuses: Mapping[str, SliceStatus]) -> None:
        sink = statuses["sink-out-all-jsonl"]
        if not killed and sink.counts.get("in", 0) >= 1000:
            killed.append(spawner.started["sink-out-all-jsonl"].pid)
            spawner.started["sink-out-all-jsonl"].kill()

    try:
        result = run(
            example_repo,
            copy_plan(example_repo),
            tmp_path / "run",
            spawner,
            on_progress=kill_sink_once_it_has_data,
        )
    finally:
        release.set()
        feeder.join(30)
    assert killed and not result.ok
    sink = next(s for s in result.slices if s.id == "sink-out-all-jsonl")
    assert sink.state == "failed" and sink.error == "killed by SIGKILL"
    assert not (tmp_path / "run/out/all.jsonl").exists()
    assert not list((tmp_path / "run").rglob("*.partial"))
    for process in spawner.started.values():  # every slice reaped: no zombies
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)


def test_parquet_out_and_back_in(example_repo: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    write_input(example_repo, [json.dumps({"n": i, "name": f"r{i}"}) for i in range(2500)])
    to_parquet = COPY.replace("jsonl://out/all.jsonl", "parquet://out/all.parquet")
    assert run(example_repo, copy_plan(example_repo, to_parquet), tmp_path / "a").ok
    table = pq.read_table(tmp_path / "a/out/all.parquet")
    assert table.num_rows == 2500 and table.column("n").to_pylist()[:3] == [0, 1, 2]
    shutil.copy(tmp_path / "a/out/all.parquet", example_repo / "data/in.parquet")
    from_parquet = COPY.replace("jsonl://data/raw.jsonl", "parquet://data/in.parquet")
    result = run(example_repo, copy_plan(example_repo, from_parquet), tmp_path / "b")
    assert result.ok and result.totals["read"] == 2500
    assert len((tmp_path / "b/out/all.jsonl").read_text().splitlines()) == 2500


FILTERED = """@herd("finance")
Feature: Copy
  Scenario: Copy raw
    @source("jsonl://data/raw.jsonl")
    @step("Filter", when="record.n > 1")
    @sink("jsonl://out/all.jsonl")
"""


def test_records_a_step_only_selects_reach_the_sink_byte_for_byte(
    example_repo: Path, tmp_path: Path
) -> None:
    # Key order, spacing and number spelling survive: a selecting step forwards the
    # lines it was given, and nothing re-encodes them on the way.
    lines = ['{"n": 1}', '{ "z": "last",  "n": 2.50 }', "", '{"n":3,"a":[1, 2]}']
    write_input(example_repo, lines)
    result = run(example_repo, copy_plan(example_repo, FILTERED), tmp_path / "run")
    assert result.ok, result.to_dict()
    assert (tmp_path / "run/out/all.jsonl").read_text().splitlines() == lines[1:2] + lines[3:]
    assert result.totals == {"read": 3, "written": 2, "dlq": 0, "filtered": 1}


def test_slices_report_their_own_peak_memory_not_their_supervisors(
    example_repo: Path, tmp_path: Path
) -> None:
    ballast = bytearray(300 * 1024 * 1024)  # the supervisor is big; its slices are not
    ballast[::4096] = b"x" * len(ballast[::4096])
    write_input(example_repo, [json.dumps({"n": i}) for i in range(10)])
    result = run(example_repo, copy_plan(example_repo), tmp_path / "run")
    assert result.ok
    assert all(0 < (s.max_rss_kb or 0) < 200 * 1024 for s in result.slices), [
        (s.id, s.max_rss_kb) for s in result.slices
    ]
    del ballast
