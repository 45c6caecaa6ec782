"""`runi run` isolates by default and keeps secrets off disk; `runi doctor` tells the truth."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.isolation import detect
from tests.integration.agent.isolation.conftest import ROOT_ONLY

pytestmark = [*ROOT_ONLY, pytest.mark.timeout(120)]

SECRET = f"wh-pass-{os.urandom(8).hex()}"  # fresh: no file can hold it by chance
PEEK_STEP = '''
import hashlib
import os

from runink import step


@step("Peek")
def peek(record: dict, params: dict) -> dict:
    """Proves the secret arrived, without ever writing it: its digest only."""
    with open(os.path.join(os.environ["RUNINK_SECRETS_DIR"], "warehouse_password")) as f:
        value = f.read()
    return {**record, "digest": hashlib.sha256(value.encode()).hexdigest()}
'''
PEEK_FEATURE = """@herd("finance")
Feature: Peek
  Scenario: Use the warehouse password
    @source("jsonl://data/raw.jsonl")
    @step("Peek")
    @sink("jsonl://out/all.jsonl")
"""


def runi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runink.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, **(env or {})},
    )


def files_containing(root: Path, needle: bytes, since: float = 0.0) -> list[str]:
    """Files under ``root`` (changed at or after ``since``) whose bytes hold ``needle``."""
    hits = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                info = os.stat(path, follow_symlinks=False)
                if info.st_mtime < since or info.st_size >= 50_000_000:
                    continue
                if needle in Path(path).read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


def test_secrets_reach_the_step_and_no_disk_log_or_lineage(
    example_repo: Path, tmp_path: Path
) -> None:
    started = time.time() - 1  # /tmp is shared: only what changed during the run matters
    (example_repo / "steps/peek.py").write_text(PEEK_STEP)
    (example_repo / "features/peek.dsl").write_text(PEEK_FEATURE)
    (example_repo / "data").mkdir(exist_ok=True)
    (example_repo / "data/raw.jsonl").write_text('{"n": 1}\n{"n": 2}\n')
    run_dir = tmp_path / "run"
    result = runi(
        "run",
        str(example_repo),
        "--scenario",
        "features/peek.dsl",
        "--run-dir",
        str(run_dir),
        env={"RUNINK_SECRET_FINANCE_WAREHOUSE_PASSWORD": SECRET},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    records = [json.loads(x) for x in (run_dir / "out/all.jsonl").read_text().splitlines()]
    assert {r["digest"] for r in records} == {hashlib.sha256(SECRET.encode()).hexdigest()}
    assert SECRET not in result.stdout + result.stderr
    assert (run_dir / "lineage").is_dir()
    assert files_containing(run_dir, SECRET.encode()) == []
    assert files_containing(Path("/tmp"), SECRET.encode(), since=started) == []


def test_a_secrets_file_naming_an_undeclared_secret_is_refused(
    example_repo: Path, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("finance:\n  warehouse_pasword: x\n")
    result = runi(
        "run",
        str(example_repo),
        "--scenario",
        "features/trades.dsl",
        "--secrets-file",
        str(secrets),
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert result.returncode == 1
    assert "does not declare secret 'warehouse_pasword'" in result.stderr
    assert "did you mean 'warehouse_password'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_isolation_says_so_loudly(example_repo: Path, tmp_path: Path) -> None:
    result = runi(
        "run",
        str(example_repo),
        "--scenario",
        "features/trades.dsl",
        "--name",
        "Validate trades",
        "--input",
        "jsonl://golden/trades/validate/input.jsonl",
        "--run-dir",
        str(tmp_path / "run"),
        "--no-isolation",
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING: --no-isolation" in result.stderr


def test_doctor_reports_this_hosts_cgroup_layout_and_each_herd(example_repo: Path) -> None:
    result = runi("doctor", str(example_repo), "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    driver = detect()
    assert report["cgroup_version"] == driver.version
    assert set(report["controllers"]) == {"memory", "cpu", "pids"}
    for controller, where in report["controllers"].items():
        assert where.endswith(driver.by_controller[controller].path)
    assert report["namespaces"] == {k: "ok" for k in ("pid", "mnt", "uts", "ipc", "net")}
    assert report["netns"] == "ok" and report["pipe_max_size"] > 0
    herds = {h["name"]: h for h in report["herds"]}
    assert herds["finance"]["runs"] and herds["finance"]["network"] == "none"
    assert herds["ecommerce"]["network"] == "egress to 1 destination(s)"
    text = runi("doctor")
    assert f"cgroups {driver.version}" in text.stdout
