"""Keyless lineage: the manifest a commit signs, its bundle's place, and offline checks.

Signing itself needs Fulcio and Rekor (the network) and an OIDC identity: these tests
stop at that boundary. Bundles come from :mod:`tests.unit.lineage.sigstore_bundles`
(Sigstore's format, a real signature, no real trust anchor).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runink.lineage import sigstore
from runink.lineage.history import added_runs, open_clone, read_blobs, read_commits
from runink.lineage.sigstore import SigstorePolicy
from runink.lineage.verify import Verified, signed_manifest, verify
from runink.lineage.writer import LineageError, LineageRepo, PendingRun, Signing
from tests.conftest import git
from tests.integration.lineage.harness import files_on, pending_run, with_signing
from tests.unit.lineage.sigstore_bundles import (
    IDENTITY,
    ISSUER,
    SIGSTORE_BLOCK,
    forget_identity,
    unanchored_bundle,
)

pytestmark = pytest.mark.timeout(120)
BRANCH = "runink/lineage"
POLICY = SigstorePolicy(identity=IDENTITY, issuer=ISSUER, signing="sigstore")


@pytest.fixture
def no_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine with no OIDC identity: no token, no CI credentials."""
    forget_identity(monkeypatch)
    yield


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return with_signing(tmp_path, SIGSTORE_BLOCK)


class Signer:
    """Where Fulcio and Rekor would answer: records what it was asked to sign."""

    def __init__(self) -> None:
        self.signed: list[bytes] = []
        self.bundles: list[bytes] = []

    def __call__(self, manifest: bytes) -> bytes:
        self.signed.append(manifest)
        self.bundles.append(unanchored_bundle(manifest))
        return self.bundles[-1]


def sigstore_commit(repo: Path, runs: list[PendingRun], signer: Signer | None = None) -> str:
    done = LineageRepo(repo, BRANCH).append(
        runs, Signing("sigstore", sign_manifest=signer or Signer())
    )
    return done.commits[-1]


def problems(repo: Path, policy: SigstorePolicy = POLICY) -> list[str]:
    result: Verified = verify(open_clone(repo), policy=policy)
    return [str(p) for p in result.problems]


def test_the_manifest_is_the_same_bytes_whatever_order_files_and_trailers_come_in() -> None:
    files = {
        "lineage/a/b/c/1.json": sigstore.file_entry("a" * 40, b"one"),
        "lineage/a/b/c/2.json": sigstore.file_entry("b" * 40, b"two"),
    }
    one = sigstore.manifest(files, {"Runink-Run-Id": ["1", "2"], "Runink-Pipeline": ["a/b/c"]})
    other = sigstore.manifest(
        dict(reversed(files.items())), {"Runink-Pipeline": ["a/b/c"], "Runink-Run-Id": ["2", "1"]}
    )
    assert one == other
    assert sigstore.bundle_path(one) == sigstore.bundle_path(other)
    assert sigstore.BUNDLE_FILE.match(sigstore.bundle_path(one))


def test_a_changed_file_or_trailer_changes_the_manifest_and_so_the_bundles_path() -> None:
    files = {"lineage/a/b/c/1.json": sigstore.file_entry("a" * 40, b"one")}
    trailers = {"Runink-Run-Id": ["1"]}
    base = sigstore.manifest(files, trailers)
    edited = {"lineage/a/b/c/1.json": sigstore.file_entry("a" * 40, b"one, edited")}
    assert sigstore.manifest(edited, trailers) != base
    assert sigstore.manifest(files, {"Runink-Run-Id": ["1", "9"]}) != base
    paths = {sigstore.bundle_path(m) for m in (base, sigstore.manifest(edited, trailers))}
    assert len(paths) == 2


def test_blob_ids_in_the_manifest_are_the_ids_git_gives_the_files(tmp_path: Path) -> None:
    data = b'[{"eventType":"START"}]\n'
    (tmp_path / "f.json").write_bytes(data)
    done = subprocess.run(
        ["git", "hash-object", "--no-filters", str(tmp_path / "f.json")],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert sigstore.git_blob_id(data) == done.stdout.strip()


def test_without_an_oidc_identity_nothing_is_committed_and_the_error_says_how_to_get_one(
    repo: Path, no_identity: None
) -> None:
    with pytest.raises(LineageError) as raised:
        LineageRepo(repo, BRANCH).append([pending_run()], Signing("sigstore"))
    message = str(raised.value)
    assert "no OIDC identity for Sigstore" in message
    assert "id-token: write" in message and sigstore.TOKEN_ENV in message
    assert sigstore.signing_unavailable() == message
    assert LineageRepo(repo, BRANCH).tip() is None


def test_a_sigstore_commit_holds_its_runs_and_the_bundle_its_manifest_names(repo: Path) -> None:
    runs = [pending_run() for _ in range(3)]
    signer = Signer()
    sha = sigstore_commit(repo, runs, signer)

    (manifest,) = signer.signed
    bundle = sigstore.bundle_path(manifest)
    assert sorted(files_on(repo)) == sorted([bundle, *(r.path for r in runs)])
    (commit,) = read_commits(open_clone(repo))
    files = added_runs(commit)
    blobs = read_blobs(repo, [f"{sha}:{p}" for p in files.values()])
    # What a verifier recomputes from the commit alone is what was signed.
    assert signed_manifest(commit, files, blobs) == manifest
    assert git(repo, "show", f"{sha}:{bundle}").encode() == signer.bundles[0]
    assert "gpgsig" not in git(repo, "cat-file", "commit", sha)  # the bundle is the signature


def test_one_manifest_is_signed_once_however_often_its_commit_is_rebuilt() -> None:
    signer = Signer()
    signing = Signing("sigstore", sign_manifest=signer)
    first = signing.bundle(b"manifest\n")
    assert signing.bundle(b"manifest\n") == first
    assert signer.signed == [b"manifest\n"]


def test_verify_refuses_a_bundle_that_does_not_chain_to_the_sigstore_root(repo: Path) -> None:
    sha = sigstore_commit(repo, [pending_run()])
    (problem,) = problems(repo)
    assert problem.startswith(f"commit {sha}: sigstore/")
    assert "its Sigstore bundle does not verify" in problem


def test_verify_names_a_sigstore_commit_that_has_no_bundle(repo: Path) -> None:
    run = pending_run()
    sha = LineageRepo(repo, BRANCH).append([run], Signing("none")).commits[-1]
    (problem,) = problems(repo)
    assert problem.startswith(f"commit {sha}: has no Sigstore bundle")
    assert "expected sigstore/" in problem


def test_verify_names_a_bundle_copied_onto_other_files(repo: Path) -> None:
    sigstore_commit(repo, [pending_run()])
    first = read_commits(open_clone(repo))[0]
    (bundle,) = [c.path for c in first.changes if c.path.startswith("sigstore/")]
    # Mallory adds a run of her own and reuses the bundle of the first commit for it.
    forged = pending_run()
    sha = commit_with(repo, {forged.path: forged.content()}, forged.run_id, bundle_from=bundle)
    found = [p for p in problems(repo) if p.startswith(f"commit {sha}")]
    assert any("does not sign the files and trailers this commit adds" in p for p in found), found


def test_verify_needs_to_know_whose_signatures_to_trust(repo: Path) -> None:
    sigstore_commit(repo, [pending_run()])
    (problem,) = problems(repo, SigstorePolicy(signing="sigstore"))
    assert "spec.lineage.sigstore.identity" in problem


def commit_with(repo: Path, files: dict[str, bytes], run_id: str, bundle_from: str) -> str:
    """A commit on the lineage branch adding ``files`` and a copy of ``bundle_from``."""
    tip = git(repo, "rev-parse", f"refs/heads/{BRANCH}")
    index = {"GIT_INDEX_FILE": str(repo / ".git" / "forged-index")}

    def run(*args: str, data: bytes | None = None) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=Mallory", "-c", "user.email=m@example.com", *args],
            cwd=repo, input=data, capture_output=True, check=True, timeout=30,
            env={"PATH": "/usr/bin:/bin", **index},
        )  # fmt: skip
        return done.stdout.decode().strip()

    run("read-tree", tip)
    bundle = git(repo, "rev-parse", f"{tip}:{bundle_from}")
    copied = f"sigstore/{'0' * 64}.sigstore.json"
    run("update-index", "--add", "--cacheinfo", f"100644,{bundle},{copied}")
    for path, data in files.items():
        blob = run("hash-object", "-w", "--stdin", data=data)
        run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree")
    message = f"runs\n\nRunink-Run-Id: {run_id}\n".encode()
    sha = run("commit-tree", tree, "-p", tip, "-F", "-", data=message)
    git(repo, "update-ref", f"refs/heads/{BRANCH}", sha)
    return sha
