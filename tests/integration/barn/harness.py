"""Real Barn member processes on 127.0.0.1 for fault tests: start, kill -9, restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from runink.barn.client import RemoteBarn
from runink.barn.config import load_config
from runink.barn.models import BarnError, Status

SECRET = b"integration-test-cluster-secret-0123456789"


def free_ports(count: int) -> list[int]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Cluster:
    """N member processes sharing one config file; every process is killed on close()."""

    def __init__(self, root: Path, size: int = 3, tuning: dict[str, Any] | None = None) -> None:
        self.root = root
        ports = free_ports(2 * size)
        self.names = [f"m{i}" for i in range(size)]
        self.members = [
            {
                "name": n,
                "raft": f"127.0.0.1:{ports[2 * i]}",
                "client": f"127.0.0.1:{ports[2 * i + 1]}",
            }
            for i, n in enumerate(self.names)
        ]
        (root / "secret").write_bytes(SECRET)
        self.config_path = root / "barn.yaml"
        self.config_path.write_text(
            yaml.safe_dump(
                {
                    "name": "m0",
                    "data_dir": str(root / "data" / "m0"),
                    "secret_file": str(root / "secret"),
                    "members": self.members,
                    "tuning": tuning or {},
                }
            )
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def config(self, name: str):  # type: ignore[no-untyped-def]
        return load_config(self.config_path, name).for_member(name)

    def data_dir(self, name: str) -> Path:
        return self.root / "data" / name

    def client_address(self, name: str) -> str:
        return next(m["client"] for m in self.members if m["name"] == name)

    def start(self, name: str) -> None:
        assert name not in self.procs or self.procs[name].poll() is not None
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        cfg = self.root / f"{name}.yaml"
        data = yaml.safe_load(self.config_path.read_text())
        data["name"] = name
        data["data_dir"] = str(self.data_dir(name))
        cfg.write_text(yaml.safe_dump(data))
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "runink.barn", "--config", str(cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def start_all(self) -> None:
        for name in self.names:
            self.start(name)
        for name in self.names:
            self.wait_serving(name)

    def wait_serving(self, name: str, timeout: float = 30.0) -> None:
        """Poll until the member answers on its client port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status_of(name) is not None:
                return
            if self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited: {self.logs()}")
            time.sleep(0.05)
        raise TimeoutError(f"{name} not serving within {timeout}s")

    def kill(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def kill_all(self) -> None:
        live = [p for p in self.procs.values() if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGKILL)
        for proc in live:
            proc.wait(timeout=10)

    def client(self, names: list[str] | None = None, timeout: float = 3.0) -> RemoteBarn:
        names = names or self.names
        return RemoteBarn([self.client_address(n) for n in names], SECRET, timeout=timeout)

    def status_of(self, name: str) -> Status | None:
        client = RemoteBarn([self.client_address(name)], SECRET, timeout=1.0)
        try:
            return client.status()
        except BarnError:
            return None
        finally:
            client.close()

    def wait_leader(self, timeout: float = 30.0, among: list[str] | None = None) -> str:
        """Poll until a live member is leader and every live member agrees on it."""
        deadline = time.monotonic() + timeout
        among = among or [
            n for n in self.names if self.procs.get(n) and self.procs[n].poll() is None
        ]
        while time.monotonic() < deadline:
            statuses = [self.status_of(n) for n in among]
            leaders = {s.name for s in statuses if s is not None and s.is_leader}
            seen = {s.leader for s in statuses if s is not None}
            if len(leaders) == 1 and seen == leaders:
                return leaders.pop()
            time.sleep(0.05)
        raise TimeoutError(f"no agreed leader among {among} within {timeout}s")

    def wait_caught_up(self, name: str, revision: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status_of(name)
            if status is not None and status.revision >= revision:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{name} did not reach revision {revision}")

    def close(self) -> None:
        self.kill_all()

    def logs(self) -> str:
        out = []
        for name in self.names:
            path = self.root / f"{name}.log"
            if path.exists():
                out.append(f"--- {name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)
