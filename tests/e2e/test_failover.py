"""Two agents under one server: stop the one running a pipeline, and it moves."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE_REPO, commit_all, eventually

pytestmark = pytest.mark.timeout(240)
RUNI = [sys.executable, "-m", "runink.cli.main"]
ORDERS = "ecommerce/orders/clean-orders"


def runi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUNI, *args], capture_output=True, text=True, timeout=60, check=False)


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*RUNI, *args], stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_stopping_an_agent_moves_its_pipelines_to_the_other(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE_REPO, repo)
    commit_all(repo)
    state = tmp_path / "state"
    server = start(["server", str(repo), "--data-dir", str(state)], tmp_path / "server.log")
    agents: dict[str, subprocess.Popen[bytes]] = {}
    try:
        pki = state / "pki"
        eventually(lambda: "serving" in (tmp_path / "server.log").read_text(), 120, "server")
        api = next(
            line.split()[4]
            for line in (tmp_path / "server.log").read_text().splitlines()
            if "API (gRPC, mTLS)" in line
        )
        assert runi("pki", "issue", str(pki), "--agent", "n1", "--agent", "n2").returncode == 0
        for node in ("n1", "n2"):
            agents[node] = start(
                [
                    *("agent", "--server", api, "--pki", str(pki), "--node", node),
                    *("--repo", str(repo), "--data-dir", str(tmp_path / node)),
                    *("--label", "disk=ssd", "--seed-data", "--lease-ttl", "3"),
                ],
                tmp_path / f"{node}.log",
            )
        token = runi(
            "token", "mint", "--herd", "ecommerce", "--role", "viewer", "--key",
            str(pki / "token.key"),
        ).stdout.strip()  # fmt: skip

        def detail() -> dict[str, Any]:
            done = runi(
                "status", ORDERS, "-o", "json", "--server", api, "--ca", str(pki / "ca.crt"),
                "--token", token,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            return dict(json.loads(done.stdout))

        def running_on() -> str | None:
            data = detail()
            nodes = {s["node"] for s in data["slices"]}
            healthy = data["health"] == "Healthy" and data["sync"] == "Synced"
            return nodes.pop() if healthy and len(nodes) == 1 else None

        first = eventually(running_on, timeout=120, what="the pipeline running on a node")
        stop(agents[first])
        other = "n2" if first == "n1" else "n1"
        eventually(lambda: running_on() == other, timeout=120, what=f"moved to {other}")
    finally:
        for process in agents.values():
            stop(process)
        stop(server)
