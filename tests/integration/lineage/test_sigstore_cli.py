"""`runi lineage log|verify` on keyless (Sigstore) lineage, as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runink.lineage.writer import LineageRepo, Signing
from tests.conftest import commit_all
from tests.integration.lineage.harness import pending_run, with_signing
from tests.unit.cli.test_lint import runi
from tests.unit.lineage.sigstore_bundles import IDENTITY, SIGSTORE_BLOCK, unanchored_bundle

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = with_signing(tmp_path, SIGSTORE_BLOCK)
    signing = Signing("sigstore", sign_manifest=unanchored_bundle)
    LineageRepo(repo, "runink/lineage").append([pending_run(), pending_run()], signing)
    return repo


def test_verify_fails_naming_the_commit_whose_bundle_does_not_verify(repo: Path) -> None:
    done = runi("lineage", "verify", "--repo", str(repo), "-o", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    (problem,) = report["problems"]
    assert problem["path"].startswith("sigstore/") and problem["path"].endswith(".sigstore.json")
    assert "does not verify" in problem["message"]
    assert report["runs"] == 2 and report["commits"] == 1


def test_verify_without_a_trusted_identity_says_where_to_set_one(repo: Path) -> None:
    (repo / "runink.yaml").write_text(
        (repo / "runink.yaml").read_text().replace(f"identity: {IDENTITY}, ", "")
    )
    commit_all(repo, "no identity")
    done = runi("lineage", "verify", "--repo", str(repo))
    assert done.returncode == 1
    assert "spec.lineage.sigstore" in done.stdout and "--sigstore-identity" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_log_shows_keyless_commits_as_left_to_verify(repo: Path) -> None:
    done = runi("lineage", "log", "--repo", str(repo))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("sigstore (runi lineage verify)") == 2
