"""A @stream pipeline: dir:// reads files as they arrive; stopping drains and commits."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from runink.runtime.executor import Executor, SliceStatus
from tests.integration.runtime.test_pipelines import compile_feature

pytestmark = pytest.mark.timeout(120)

FEATURE = """@herd("finance")
Feature: Inbox
  Scenario: Watch inbox
    @source("dir://inbox/*.jsonl")
    @step("Filter", when="record.n >= 0")
    @sink("jsonl://out/all.jsonl")
    @stream
"""


def lines(start: int, stop: int) -> str:
    return "".join(json.dumps({"n": i}) + "\n" for i in range(start, stop))


def test_files_arriving_in_the_inbox_flow_until_the_stream_is_stopped(
    example_repo: Path, tmp_path: Path
) -> None:
    (example_repo / "features/inbox.dsl").write_text(FEATURE)
    inbox = example_repo / "inbox"
    inbox.mkdir()
    (inbox / "a.jsonl").write_text(lines(0, 3))  # there before the run starts
    plan, contracts = compile_feature(example_repo, "features/inbox.dsl", "Watch inbox")
    assert plan.trigger.kind == "stream"
    executor = Executor(timeout=90)
    started = threading.Event()

    def publish() -> None:
        (inbox / ".b.tmp").write_text(lines(3, 6))
        os.rename(inbox / ".b.tmp", inbox / "b.jsonl")  # published by rename
        (inbox / "c.jsonl").write_text(lines(6, 10))  # written in place, then closed
        (inbox / "notes.txt").write_text("not a match")

    def drive(statuses: Mapping[str, SliceStatus]) -> None:
        if not started.is_set() and statuses["source"].state == "running":
            started.set()
            threading.Thread(target=publish, daemon=True).start()
        if statuses["sink-out-all-jsonl"].counts.get("in", 0) >= 10:
            executor.stop()

    result = executor.run(
        plan,
        contracts=contracts,  # type: ignore[arg-type]
        repo_dir=example_repo,
        data_dir=example_repo,
        run_dir=tmp_path,
        on_progress=drive,
    )
    assert result.ok, result.to_dict()
    written = [json.loads(x)["n"] for x in (tmp_path / "out/all.jsonl").read_text().splitlines()]
    assert sorted(written) == list(range(10))
    assert result.totals["read"] == 10


def test_a_stream_sink_commits_each_batch_so_a_crash_keeps_what_was_written(
    example_repo: Path, tmp_path: Path
) -> None:
    (example_repo / "features/inbox.dsl").write_text(FEATURE)
    (example_repo / "inbox").mkdir()
    (example_repo / "inbox/a.jsonl").write_text(lines(0, 5))
    plan, contracts = compile_feature(example_repo, "features/inbox.dsl", "Watch inbox")
    executor = Executor(timeout=90)
    killed: list[bool] = []

    def crash_source(statuses: Mapping[str, SliceStatus]) -> None:
        if not killed and statuses["sink-out-all-jsonl"].counts.get("in", 0) >= 5:
            killed.append(True)
            os.kill(int(_pid_of(tmp_path, "source")), 9)

    result = executor.run(
        plan,
        contracts=contracts,  # type: ignore[arg-type]
        repo_dir=example_repo,
        data_dir=example_repo,
        run_dir=tmp_path,
        on_progress=crash_source,
    )
    assert killed and not result.ok
    written = (tmp_path / "out/all.jsonl").read_text().splitlines()
    assert len(written) == 5  # the committed batch survives the failed run


def _pid_of(run_dir: Path, slice_id: str) -> str:
    """The pid of a running slice, found by its spec file on its command line."""
    where = str(run_dir / ".runink" / "slices").encode()
    name = f"/{slice_id}.json".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if where in cmdline and name in cmdline:
                return entry.name
    raise AssertionError(f"no process runs the spec of slice {slice_id} under {run_dir}")


def test_a_stream_checkpoints_what_every_sink_committed_and_resumes_there(
    example_repo: Path, tmp_path: Path
) -> None:
    (example_repo / "features/inbox.dsl").write_text(FEATURE)
    inbox = example_repo / "inbox"
    inbox.mkdir()
    (inbox / "a.jsonl").write_text(lines(0, 4))
    plan, contracts = compile_feature(example_repo, "features/inbox.dsl", "Watch inbox")
    checkpoints: list[Mapping[str, int]] = []

    def run(until: int, resume: Mapping[str, int] | None) -> None:
        executor = Executor(timeout=90)

        def drive(statuses: Mapping[str, SliceStatus]) -> None:
            if statuses["sink-out-all-jsonl"].counts.get("in", 0) >= until and checkpoints:
                executor.stop()

        result = executor.run(
            plan,
            contracts=contracts,  # type: ignore[arg-type]
            repo_dir=example_repo,
            data_dir=example_repo,
            run_dir=tmp_path,
            on_progress=drive,
            resume=resume,
            on_checkpoint=checkpoints.append,
        )
        assert result.ok, result.to_dict()

    run(4, None)
    assert checkpoints[-1] == {"inbox/a.jsonl": len(lines(0, 4))}
    with (inbox / "a.jsonl").open("a") as more:  # the file grows while nothing runs
        more.write(lines(4, 6))
    checkpoints.clear()
    run(2, {"inbox/a.jsonl": len(lines(0, 4))})  # resumed: only the new lines are read
    written = [json.loads(x)["n"] for x in (tmp_path / "out/all.jsonl").read_text().splitlines()]
    assert written == list(range(6))  # nothing lost, nothing read twice
    assert checkpoints[-1] == {"inbox/a.jsonl": len(lines(0, 6))}
