"""Quotas that hold: memory (OOMKilled), pids (fork bombs), cpu (250m)."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from agent.isolation import HerdIsolation, IsolatedSpawner, Limits
from runink.compiler import Compiler
from runink.repo import load_repo
from runink.runtime.executor import Executor
from tests.integration.agent.isolation.conftest import ROOT_ONLY, run_python

pytestmark = [*ROOT_ONLY, pytest.mark.timeout(90)]

HOG_STEP = '''
from runink import step

_kept = []


@step("Hog")
def hog(record: dict, params: dict) -> dict:
    """Allocates without end (and touches every page, so it is really used)."""
    while True:
        _kept.append(bytearray(8 * 1024 * 1024))
'''

HOG_FEATURE = """@herd("finance")
Feature: Hog
  Scenario: Eat memory
    @source("jsonl://data/raw.jsonl")
    @step("Hog")
    @sink("jsonl://out/all.jsonl")
    @requires(memory="64Mi")
"""


def test_a_step_that_allocates_without_end_is_oom_killed_and_reported(
    example_repo: Path, tmp_path: Path
) -> None:
    (example_repo / "steps/hog.py").write_text(HOG_STEP)
    (example_repo / "features/hog.dsl").write_text(HOG_FEATURE)
    (example_repo / "data").mkdir(exist_ok=True)
    (example_repo / "data/raw.jsonl").write_text('{"n": 1}\n')
    compiled = Compiler().compile(load_repo(example_repo), only="features/hog.dsl")
    assert compiled.ok, [str(f) for f in compiled.findings]
    with IsolatedSpawner({"finance": HerdIsolation("finance")}) as spawner:
        result = Executor(spawner, timeout=60).run(
            compiled.plans[0],
            contracts={},
            repo_dir=example_repo,
            data_dir=example_repo,
            run_dir=tmp_path / "run",
        )
    states = {s.id: (s.state, s.error) for s in result.slices}
    assert states["hog"] == ("OOMKilled", "OOMKilled"), states
    assert result.outcome == "failed"
    saved = json.loads((tmp_path / "run/run.json").read_text())
    assert {s["id"]: s["state"] for s in saved["slices"]}["hog"] == "OOMKilled"
    # The host (this test process) lives on, and so does the next run.
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_fork_bomb_stops_at_pids_max(spawner: IsolatedSpawner) -> None:
    bomb = textwrap.dedent(
        """
        import os, sys, time
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except OSError as exc:
            os.write(int(sys.argv[1]), f"{children} {exc.errno}".encode())
        """
    )
    result = run_python(spawner, "tiny", bomb)  # tiny: pids 24
    children, errno_ = (int(x) for x in result.output.split())
    assert 10 <= children < 24
    assert errno_ == 11  # EAGAIN: the pids controller said no
    assert subprocess.run(["true"], check=False).returncode == 0


def test_a_cpu_spinner_with_250m_uses_at_most_about_a_quarter_cpu(
    spawner: IsolatedSpawner,
) -> None:
    spin = textwrap.dedent(
        """
        import os, sys, time
        end = time.monotonic() + 5
        while time.monotonic() < end:
            pass
        os.write(int(sys.argv[1]), b"done")
        """
    )
    started = time.monotonic()
    result = run_python(spawner, "tiny", spin, cpu_millis=250)
    wall = time.monotonic() - started
    used = (result.process.cpu_usage_usec() or 0) / 1e6
    assert result.output == "done"
    assert 0.1 * wall < used <= 0.3 * wall + 0.2, (used, wall)


def test_a_slice_never_gets_more_than_its_herd_quota() -> None:
    herds = {"small": HerdIsolation("small", Limits(memory_bytes=32 << 20))}
    with IsolatedSpawner(herds) as spawner:
        code = textwrap.dedent(
            """
            import os, sys
            os.write(int(sys.argv[1]), b"start")
            kept = [bytearray(4 << 20) for _ in range(64)]
            """
        )
        result = run_python(spawner, "small", code, memory_bytes=1 << 30)
    assert result.output == "start"
    assert result.code == -9 and result.process.exit_reason() == "OOMKilled"


def test_a_new_herd_quota_reaches_the_herd_cgroup_at_its_next_slice(
    spawner: IsolatedSpawner,
) -> None:
    count = 'import os, sys; os.write(int(sys.argv[1]), b"ok")'
    assert run_python(spawner, "tiny", count).output == "ok"
    pids_max = spawner.driver.created[f"{spawner.token}/tiny"]
    assert pids_max.pids == 24
    # A commit raised the herd's pids quota: the agent hands the spawner the new herd.
    spawner.herds["tiny"] = HerdIsolation("tiny", Limits(cpu_millis=1000, pids=48))
    assert run_python(spawner, "tiny", count).output == "ok"
    assert spawner.driver.drift(f"{spawner.token}/tiny", Limits(cpu_millis=1000, pids=48)) == []
