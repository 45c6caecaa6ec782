"""A herd secret used by a run appears in no lineage file and no commit message.

`runi up` on a bare origin; the secret is set with `runi secret set`; a user step reads
it as ``ctx.secrets`` (and checks the file the slice received it in,
``$RUNINK_SECRETS_DIR/<name>``, docs/isolation.md) and
does everything a careless step could do with it: writes it into records, and puts it
in the messages of the exceptions it raises. The run's lineage is committed to
``runink/lineage``; then every object of the repository (each blob, tree and commit
message) is searched for the value.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import eventually, git
from tests.e2e.conftest import Up, push, runi

pytestmark = pytest.mark.timeout(420)

ADMIN_ROLE = '    admin: ["*:*"]\n'
FEATURE = """@herd("finance")
Feature: Vault
  Scenario: Use the password
    @source("jsonl://data/logins.jsonl")
    @step("UseWarehousePassword")
    @sink("jsonl://out/logins.jsonl")
"""
STEP = '''"""A step that handles the warehouse password as carelessly as it can."""

import os

from runink import step


@step("UseWarehousePassword")
def use_warehouse_password(record: dict, ctx) -> dict:
    password = ctx.secrets["warehouse_password"].strip()
    with open(os.path.join(os.environ["RUNINK_SECRETS_DIR"], "warehouse_password")) as f:
        assert f.read().strip() == password  # the file the docs name holds the same
    if record["n"] % 2:
        raise ValueError(f"login {record['n']} refused with password {password}")
    return {**record, "password": password}
'''
LINEAGE_DIR = "lineage/finance/vault/"


def test_a_herd_secret_used_by_a_run_appears_in_no_lineage_file_and_no_commit_message(
    world: tuple[Path, Up],
) -> None:
    work, up = world
    origin = Path(git(work, "remote", "get-url", "origin"))
    herd = work / "herds" / "finance.yaml"
    text = herd.read_text()
    herd.write_text(text.replace("    auditor:", ADMIN_ROLE + "    auditor:", 1))
    push(work, "finance: an admin role")

    password = f"pw-{uuid.uuid4().hex}"
    token = mint(up, "admin")

    def set_secret() -> bool:  # refused until the herd with the admin role is applied
        done = runi(
            "secret", "set", "--herd", "finance", "warehouse_password",
            "--server", up.api, "--ca", str(up.state / "pki" / "ca.crt"), "--token", token,
            stdin=password + "\n",
        )  # fmt: skip
        return done.returncode == 0

    eventually(set_secret, 120, "the secret set with the new admin role")

    data = up.state / "agent" / "finance" / "data" / "logins.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(10)))
    (work / "steps" / "vault.py").write_text(STEP)
    (work / "features" / "vault.dsl").write_text(FEATURE)
    push(work, "a step that uses the warehouse password")

    # The secret reached the step: the sink holds what the step did with it.
    out = up.state / "agent" / "finance" / "out" / "logins.jsonl"
    eventually(lambda: out.exists() and password in out.read_text(), 180, "the run's output")
    files = eventually(lambda: lineage_files(origin), 120, "the run's lineage committed")
    events = json.loads(git(origin, "show", f"runink/lineage:{files[0]}"))
    assert [e["eventType"] for e in events] in (["START", "COMPLETE"], ["START", "FAIL"])
    # The step's errors quote the password: the DLQ (not in git) has them, with reasons.
    dlq = (up.state / "agent" / "finance" / "dlq.jsonl").read_text()
    assert f"refused with password {password}" in dlq

    leaks = [name for name, data in every_object(origin) if password.encode() in data]
    assert leaks == [], f"the secret is in {leaks}"
    messages = git(origin, "log", "--format=%B", "runink/lineage")
    assert password not in messages


def mint(up: Up, role: str) -> str:
    key = up.state / "pki" / "token.key"
    minted = runi("token", "mint", "--herd", "finance", "--role", role, "--key", str(key))
    assert minted.returncode == 0, minted.stderr
    return minted.stdout.strip()


def lineage_files(origin: Path) -> list[str]:
    done = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "refs/heads/runink/lineage"],
        cwd=origin, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return [f for f in done.stdout.splitlines() if f.startswith(LINEAGE_DIR)]


def every_object(repo: Path) -> list[tuple[str, bytes]]:
    """(object id and type, content) of every object in ``repo``: blobs, trees, commits."""
    done = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch", "--unordered"],
        cwd=repo, capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    out, at, found = done.stdout, 0, []
    while at < len(out):
        end = out.index(b"\n", at)
        oid, kind, size = out[at:end].split()
        start = end + 1
        found.append((f"{kind.decode()} {oid.decode()}", out[start : start + int(size)]))
        at = start + int(size) + 1
    return found
