"""`runi server` as a user runs it: a process, a token, `runi status`, a push, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import commit_all, eventually, git

pytestmark = pytest.mark.timeout(180)


def runi(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runink.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


class Server:
    def __init__(self, repo: Path, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "runink.cli.main", "server", str(repo)),
                *("--data-dir", str(data_dir), "--resync", "3600"),
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self.api = ""
        self.http = ""
        deadline = time.monotonic() + 60
        assert self.process.stderr is not None
        while "serving" not in "".join(self.lines):
            assert time.monotonic() < deadline and self.process.poll() is None, self.lines
            line = self.process.stderr.readline()
            self.lines.append(line)
            if "API (gRPC, mTLS)" in line:
                self.api = line.split()[4]
            if "webhook" in line:
                self.http = line.split()[2]

    def status(self, *args: str) -> subprocess.CompletedProcess[str]:
        pki = self.data_dir / "pki"
        token = runi(
            "token",
            "mint",
            "--herd",
            "finance",
            "--role",
            "viewer",
            "--key",
            str(pki / "token.key"),
        ).stdout.strip()
        return runi(
            "status", "--server", self.api, "--ca", str(pki / "ca.crt"), "--token", token, *args
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def server(example_repo: Path, tmp_path: Path) -> Iterator[Server]:
    commit_all(example_repo)
    running = Server(example_repo, tmp_path / "state")
    try:
        yield running
    finally:
        running.stop()


def pipelines(server: Server) -> dict[str, str]:
    done = server.status("-o", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    items = rows["pipelines"] if isinstance(rows, dict) else rows
    return {row["pipeline"]: row["desired_revision"] for row in items}


def test_server_applies_commits_and_runi_status_shows_them(
    server: Server, example_repo: Path
) -> None:
    eventually(lambda: "finance/trades/validate-trades" in pipelines(server))
    feature = example_repo / "features/trades.dsl"
    feature.write_text(feature.read_text().replace('cpu="500m"', 'cpu="750m"', 1))
    sha = commit_all(example_repo, "more cpu")
    eventually(lambda: sha in pipelines(server).get("finance/trades/validate-trades", ""))
    assert server.stop() == 0  # Ctrl-C stops everything cleanly


def test_a_data_dir_inside_the_repository_is_refused(example_repo: Path) -> None:
    done = runi("server", str(example_repo), "--data-dir", str(example_repo / ".state"))
    assert done.returncode == 2
    assert "inside the repository" in done.stderr and "Traceback" not in done.stderr


def test_a_push_to_a_bare_repository_notifies_the_server_through_its_hook(
    example_repo: Path, tmp_path: Path
) -> None:
    commit_all(example_repo)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(example_repo), str(bare)], check=True)
    running = Server(bare, tmp_path / "state")
    try:
        hook = bare / "hooks/post-receive"
        hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m runink.cli.main hook post-receive\n")
        hook.chmod(0o755)
        git(bare, "config", "runink.hookUrl", f"{running.http}")
        git(bare, "config", "runink.hookSecretFile", str(tmp_path / "state/hooks/local.secret"))
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
        (clone / "README.md").write_text("docs only\n")
        commit_all(clone, "docs")
        pushed = subprocess.run(
            ["git", "push", "origin", "main"],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
        )
        assert pushed.returncode == 0, pushed.stderr
        assert "runink: notified" in pushed.stderr and "(202)" in pushed.stderr
    finally:
        assert running.stop() == 0
