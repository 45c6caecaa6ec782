"""Shared by the end-to-end tests: `runi up` on a bare origin, a clone to push from."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE_REPO, eventually, git

RUNI = [sys.executable, "-m", "runink.cli.main"]
ORDERS = "ecommerce/orders/clean-orders"


def runi(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNI, *args], capture_output=True, text=True, timeout=60, check=False, input=stdin
    )


class Up:
    """`runi up` on ``origin`` as a child process; its stderr is collected."""

    def __init__(self, origin: Path, state: Path) -> None:
        self.state = state
        self.process = subprocess.Popen(
            [*RUNI, "up", str(origin), "--data-dir", str(state)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self.api = ""
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(90), "runi up did not start:\n" + "".join(self.lines)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "API (gRPC, mTLS)" in line:
                self.api = line.split()[4]
            if "Ctrl-C stops" in line:
                self.ready.set()

    def status(self, herd: str, *args: str) -> Any:
        key = self.state / "pki" / "token.key"
        token = runi("token", "mint", "--herd", herd, "--role", "viewer", "--key", str(key))
        done = runi(
            "status", *args, "-o", "json", "--server", self.api,
            "--ca", str(self.state / "pki/ca.crt"), "--token", token.stdout.strip(),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def pipelines(self, herd: str = "ecommerce") -> dict[str, dict[str, Any]]:
        return {row["pipeline"]: row for row in self.status(herd)}

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def healthy(up: Up, pipeline: str, sha: str | None = None) -> bool:
    row = up.pipelines(pipeline.split("/")[0]).get(pipeline)
    return bool(
        row
        and row["sync"] == "Synced"
        and row["health"] == "Healthy"
        and (sha is None or sha in row["revision"])
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Path, Up]]:
    """A bare origin made from example-repo, a clone to push from, and runi up."""
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE_REPO, work)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "example")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    git(work, "remote", "add", "origin", str(origin))
    up = Up(origin, tmp_path / "state")
    try:
        eventually(lambda: healthy(up, ORDERS), what="the first revision running")
        yield work, up
    finally:
        up.stop()


def push(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    git(work, "push", "-q", "origin", "main")
    return git(work, "rev-parse", "HEAD")
