"""The whole path as an operator sets it up: `runi pki init`, a Barn member process,
`python -m runink.api`, `runi token mint`, and `runi status` with a viewer token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.api.harness import example_repo_with_admins, seed
from tests.integration.barn.harness import Cluster

RUNI = [sys.executable, "-m", "runink.cli.main"]


def runi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUNI, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _serving_address(proc: subprocess.Popen[str], log: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        for line in text.splitlines():
            if "runink api: serving on " in line:
                return line.rsplit(" ", 1)[-1]
        assert proc.poll() is None, text
        time.sleep(0.05)
    raise TimeoutError(log.read_text())


@pytest.mark.timeout(120)
def test_runi_status_works_against_a_running_server_with_a_viewer_token(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    made = runi("pki", "init", str(pki), "--agent", "n1")
    assert made.returncode == 0, made.stderr
    assert str(pki / "agent-n1.crt") in made.stdout
    again = runi("pki", "init", str(pki))
    assert again.returncode == 2 and "already holds a CA" in again.stderr

    (tmp_path / "barn").mkdir()
    cluster = Cluster(tmp_path / "barn", size=1)
    proc: subprocess.Popen[str] | None = None
    try:
        cluster.start_all()
        cluster.wait_leader()
        barn = cluster.client()
        try:
            seed(barn, example_repo_with_admins(tmp_path))
        finally:
            barn.close()
        config = tmp_path / "api.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "listen": "127.0.0.1:0",
                    "pki": "pki",
                    "barn": str(cluster.root / "m0.yaml"),
                    "barn_mode": "remote",
                    "kek_file": "pki/secrets.kek",
                }
            )
        )
        log = tmp_path / "api.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "runink.api", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        address = _serving_address(proc, log)
        minted = runi(
            "token",
            "mint",
            "--herd",
            "finance",
            "--role",
            "viewer",
            "--ttl",
            "10m",
            "--subject",
            "bob@example.com",
            "--key",
            str(pki / "token.key"),
        )
        assert minted.returncode == 0, minted.stderr
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RUNINK_")},
            "RUNINK_SERVER": address,
            "RUNINK_TOKEN": minted.stdout.strip(),
            "RUNINK_CA": str(pki / "ca.crt"),
        }
        table = runi("status", env=env)
        assert table.returncode == 0, table.stderr + log.read_text()
        assert table.stdout.splitlines()[0].startswith("HERD")
        assert "trades/validate-trades" in table.stdout
        assert "ecommerce" not in table.stdout
        denied = runi("secret", "list", "--herd", "finance", env=env)
        assert denied.returncode == 2
        assert "bob@example.com lacks read:secrets" in denied.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "denied rpc=Secrets.ListSecrets subject=bob@example.com" in log.read_text()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        cluster.close()


@pytest.mark.timeout(60)
def test_a_bad_server_config_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "api.yaml"
    config.write_text("pki: nowhere\nbarn: barn.yaml\n")
    result = subprocess.run(
        [sys.executable, "-m", "runink.api", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "pki: cannot read" in result.stderr and "Traceback" not in result.stderr


def test_token_mint_refuses_bad_ttl_and_missing_key(tmp_path: Path) -> None:
    bad = runi(
        "token",
        "mint",
        "--herd",
        "f",
        "--role",
        "r",
        "--ttl",
        "forever",
        "--key",
        str(tmp_path / "k"),
    )
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    missing = runi("token", "mint", "--herd", "f", "--role", "r", "--key", str(tmp_path / "k"))
    assert missing.returncode == 2 and "cannot read token key" in missing.stderr


@pytest.mark.timeout(120)
def test_an_embedded_barn_member_serves_an_empty_installation(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert runi("pki", "init", str(pki)).returncode == 0
    (tmp_path / "barn").mkdir()
    cluster = Cluster(tmp_path / "barn", size=1)  # only its config: the API runs the member
    config = tmp_path / "api.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "listen": "127.0.0.1:0",
                "pki": "pki",
                "barn": str(cluster.config_path),
                "kek_file": "pki/secrets.kek",
            }
        )
    )
    log = tmp_path / "api.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runink.api", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        address = _serving_address(proc, log)
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
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RUNINK_")},
            "RUNINK_SERVER": address,
            "RUNINK_TOKEN": token,
            "RUNINK_CA": str(pki / "ca.crt"),
        }
        result = runi("status", env=env)
        assert result.returncode == 0, result.stderr
        assert "no pipelines" in result.stdout
        assert json.loads(runi("status", "-o", "json", env=env).stdout) == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert (tmp_path / "barn" / "data" / "m0" / "raft.journal").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
