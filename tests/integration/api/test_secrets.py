"""Secrets end to end: set from stdin with the CLI, delivered to an agent, and never
stored, logged or written anywhere in plaintext."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from runink.api import keys
from runink.api.records import SecretRecord
from tests.integration.api.harness import ApiHarness

RUNI = [sys.executable, "-m", "runink.cli.main"]


def runi(
    api: ApiHarness, token: str, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "RUNINK_SERVER": api.address,
        "RUNINK_CA": str(api.pki / "ca.crt"),
        "RUNINK_TOKEN": token,
    }
    return subprocess.run(
        [*RUNI, *args], input=stdin, capture_output=True, timeout=60, env=env, check=False
    )


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.timeout(120)
def test_secret_values_never_reach_disk_or_logs(tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    api = ApiHarness(tmp_path / "run")
    values = {"warehouse_password": f"pw-{uuid.uuid4().hex}", "pii_hash_key": uuid.uuid4().hex}
    outputs = []
    try:
        admin = api.token("finance", "admin", subject="dave@example.com")
        for name, value in values.items():
            result = runi(
                api, admin, "secret", "set", "--herd", "finance", name, stdin=value.encode() + b"\n"
            )
            assert result.returncode == 0, result.stderr
            assert b"set (version 1)" in result.stderr
            outputs.append(result.stdout + result.stderr)
        again = runi(
            api,
            admin,
            "secret",
            "set",
            "--herd",
            "finance",
            "pii_hash_key",
            stdin=values["pii_hash_key"].encode(),
        )
        assert b"version 2" in again.stderr
        listed = runi(api, api.token("finance", "operator"), "secret", "list", "--herd", "finance")
        assert listed.returncode == 0, listed.stderr
        assert b"warehouse_password" in listed.stdout and b"dave@example.com" in listed.stdout
        outputs += [again.stdout + again.stderr, listed.stdout + listed.stderr]
        as_json = runi(api, admin, "secret", "list", "--herd", "finance", "-o", "json")
        outputs.append(as_json.stdout)
        # the agent of a node running finance gets the exact value (newline stripped)
        got = api.agent("n1").get_secret("n1", "finance", "warehouse_password")
        assert got.value == values["warehouse_password"].encode()
        stored = api.barn.get(keys.secret_key("finance", "pii_hash_key"))
        assert stored is not None and SecretRecord.from_dict(stored.value).version == 2
    finally:
        api.close()
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()
    assert log_file.read_text().count("secret set herd=finance") >= 3
    for value in values.values():
        needle = value.encode()
        assert not _files_containing(tmp_path, needle), "plaintext on disk"
        assert all(needle not in out for out in outputs), "plaintext printed"
    assert any(p.name == "raft.journal" for p in (tmp_path / "run" / "barn").rglob("*"))


@pytest.mark.timeout(60)
def test_secret_set_refuses_undeclared_names_and_empty_values(api: ApiHarness) -> None:
    admin = api.token("finance", "admin")
    undeclared = runi(api, admin, "secret", "set", "--herd", "finance", "aws_key", stdin=b"x")
    assert undeclared.returncode == 2
    assert b"does not declare secret 'aws_key'" in undeclared.stderr
    assert b"warehouse_password" in undeclared.stderr  # the hint lists what is declared
    empty = runi(api, admin, "secret", "set", "--herd", "finance", "pii_hash_key", stdin=b"")
    assert empty.returncode == 2 and b"empty" in empty.stderr
    denied = runi(
        api,
        api.token("finance", "operator"),
        "secret",
        "set",
        "--herd",
        "finance",
        "pii_hash_key",
        stdin=b"v",
    )
    assert denied.returncode == 2
    assert b"lacks write:secrets in herd 'finance'" in denied.stderr
    assert b"Traceback" not in undeclared.stderr + empty.stderr + denied.stderr


def test_secret_set_takes_no_value_on_the_command_line() -> None:
    result = subprocess.run(
        [*RUNI, "secret", "set", "-h"], capture_output=True, timeout=60, check=False
    )
    assert b"stdin" in result.stdout
    assert b"--value" not in result.stdout
