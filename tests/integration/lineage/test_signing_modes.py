"""Signing modes in a real control plane: sigstore without an identity, and `none` shown.

Keyless signing needs an OIDC identity and the network; here there is neither, so the
controller must commit nothing, keep the runs pending and say why. `signing: none` is
an explicit opt-out that `runi status` must keep in view.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.embedded import embedded_config
from reconciler.lineage_signed import CONDITION
from reconciler.server import ControlPlane
from runink.api.records import SourceRecord
from tests.conftest import ROOT, eventually, git
from tests.integration.lineage.harness import pending_value, pipeline_repo, with_signing
from tests.unit.lineage.sigstore_bundles import SIGSTORE_BLOCK, forget_identity

pytestmark = pytest.mark.timeout(180)
PENDING = "/lineage/pending/"
RUNI = [sys.executable, "-m", "runink.cli.main"]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[Path], ControlPlane]]:
    planes: list[ControlPlane] = []

    def started(repo: Path) -> ControlPlane:
        # A short resync: the lineage controller looks at the settings without a run.
        plane = ControlPlane(embedded_config(tmp_path / "state", repo, resync=2.0))
        planes.append(plane)
        plane.start()
        eventually(lambda: _source(plane).applied_revision, what="the source applied")
        return plane

    try:
        yield started
    finally:
        for plane in planes:
            plane.stop()


def _source(plane: ControlPlane) -> SourceRecord:
    assert plane.barn is not None
    kv = plane.barn.get("/sources/local")
    return SourceRecord.from_dict(kv.value) if kv is not None else SourceRecord(repo="local")


def _signed(plane: ControlPlane) -> tuple[str, str, str] | None:
    found = next((c for c in _source(plane).conditions if c.type == CONDITION), None)
    return None if found is None else (found.status, found.reason, found.message)


def test_sigstore_without_an_oidc_identity_commits_nothing_and_keeps_runs_pending(
    tmp_path: Path, start: Callable[[Path], ControlPlane], monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_identity(monkeypatch)
    repo = with_signing(tmp_path, SIGSTORE_BLOCK)
    plane = start(repo)
    assert plane.barn is not None
    value = pending_value()
    plane.barn.put(PENDING + value["run_id"], value)

    status, reason, message = eventually(lambda: _signed(plane), what="LineageSigned")
    assert (status, reason) == ("False", "SigningUnavailable")
    assert "no OIDC identity for Sigstore" in message
    assert plane.barn.get(PENDING + value["run_id"]) is not None
    branch = git(repo, "branch", "--list", "runink/lineage")
    assert branch == ""


def test_signing_none_is_flagged_in_runi_status(
    tmp_path: Path, start: Callable[[Path], ControlPlane]
) -> None:
    repo = with_signing(tmp_path, "    signing: none\n")
    plane = start(repo)
    eventually(lambda: _signed(plane), what="LineageSigned")
    assert _signed(plane) is not None and _signed(plane)[:2] == ("False", "SigningDisabled")  # type: ignore[index]

    table = status(plane, tmp_path / "state")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["SOURCE", "CONDITION"])
    row = lines[header + 1].split()
    assert row[:4] == ["local", "LineageSigned", "False", "SigningDisabled"]
    assert "not signed" in table.stdout

    one = status(plane, tmp_path / "state", "finance/trades/validate-trades")
    assert one.returncode == 0, one.stderr
    assert "SigningDisabled" in one.stdout


def test_ssh_signing_with_a_key_reads_as_signed(
    tmp_path: Path, start: Callable[[Path], ControlPlane]
) -> None:
    repo = pipeline_repo(tmp_path)
    plane = start(repo)  # embedded_config generates a signing key in the data dir
    assert eventually(lambda: _signed(plane), what="LineageSigned")[:2] == ("True", "SSHKey")
    table = status(plane, tmp_path / "state")
    assert table.returncode == 0, table.stderr
    assert "LineageSigned" not in table.stdout  # only what is wrong is listed


def status(plane: ControlPlane, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`runi status` as a person runs it, with a viewer token of herd finance."""
    key = state / "pki" / "token.key"
    minted = subprocess.run(
        [*RUNI, "token", "mint", "--herd", "finance", "--role", "viewer", "--key", str(key)],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    )  # fmt: skip
    return subprocess.run(
        [
            *RUNI, "status", *args, "--server", plane.api_address,
            "--ca", str(state / "pki" / "ca.crt"), "--token", minted.stdout.strip(),
        ],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )  # fmt: skip
