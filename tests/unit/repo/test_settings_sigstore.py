"""runink.yaml: keyless lineage names whose signatures to trust, or says where it does not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runink.repo import load_repo

Write = Callable[[str, "str | bytes"], Path]


def _sigstore(example_repo: Path, write: Write, policy: str) -> None:
    text = (example_repo / "runink.yaml").read_text()
    write("runink.yaml", text.replace("    signing: ssh\n", "    signing: sigstore\n" + policy))


def test_sigstore_signing_without_an_identity_is_an_error_at_the_signing_key(
    example_repo: Path, write: Write
) -> None:
    _sigstore(example_repo, write, "")
    found = [f for f in load_repo(example_repo).findings.errors if f.code == "repo.sigstore-policy"]
    assert [f.key for f in found] == [
        "spec.lineage.sigstore.identity",
        "spec.lineage.sigstore.issuer",
    ]
    line = (example_repo / "runink.yaml").read_text().splitlines().index("    signing: sigstore")
    assert {(f.file, f.line) for f in found} == {("runink.yaml", line + 1)}
    assert "token.actions.githubusercontent.com" in found[1].hint


def test_sigstore_identity_and_issuer_reach_the_settings(example_repo: Path, write: Write) -> None:
    identity = "https://github.com/acme/pipelines/.github/workflows/lineage.yml@refs/heads/main"
    issuer = "https://token.actions.githubusercontent.com"
    _sigstore(
        example_repo,
        write,
        f"    sigstore:\n      identity: {identity}\n      issuer: {issuer}\n",
    )
    snapshot = load_repo(example_repo)
    assert not snapshot.findings.errors
    assert snapshot.settings is not None
    assert (snapshot.settings.lineage_signing, snapshot.settings.sigstore_identity) == (
        "sigstore",
        identity,
    )
    assert snapshot.settings.sigstore_issuer == issuer


def test_an_issuer_that_is_not_an_https_url_is_refused_where_it_is_written(
    example_repo: Path, write: Write
) -> None:
    _sigstore(
        example_repo,
        write,
        "    sigstore:\n      identity: ci@example.com\n      issuer: accounts.google.com\n",
    )
    (error,) = load_repo(example_repo).findings.errors
    assert error.file == "runink.yaml" and "lineage" in (error.key or "")
    line = (
        (example_repo / "runink.yaml")
        .read_text()
        .splitlines()
        .index("      issuer: accounts.google.com")
    )
    assert error.line == line + 1
