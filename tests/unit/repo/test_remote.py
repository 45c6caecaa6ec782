"""Source locations and URLs as a user types them, and how they show up in messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from runink.repo.remote import FetchFailed, Mirror, is_url, parse_location, redact
from tests.conftest import commit_all, git


@pytest.mark.parametrize(
    "url",
    [
        "file:///srv/git/pipelines.git",
        "ssh://git@git.example.com/data/pipelines.git",
        "https://git.example.com/data/pipelines.git",
        "git@github.com:acme/pipelines.git",
        "build-host:/srv/pipelines.git",
    ],
)
def test_git_urls_are_taken_as_remotes(url: str) -> None:
    assert is_url(url) and parse_location(url) == url


def test_an_existing_directory_stays_a_local_path(tmp_path: Path) -> None:
    assert parse_location(str(tmp_path)) == tmp_path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ftp://example.com/repo.git", "ftp:// scheme is not supported"),
        ("ext::sh -c touch% /tmp/pwned", "neither a directory nor a git URL"),
        ("--upload-pack=touch /tmp/pwned", "neither a directory nor a git URL"),
        ("/no/such/dir", "neither a directory nor a git URL"),
    ],
)
def test_what_is_neither_a_directory_nor_a_supported_url_is_refused(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_location(text)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://bot:ghp_secret@git.example.com/p.git", "https://git.example.com/p.git"),
        ("https://ghp_secret@git.example.com:8443/p.git", "https://git.example.com:8443/p.git"),
        ("https://git.example.com/p.git?token=ghp_secret", "https://git.example.com/p.git"),
        ("ssh://git:ghp_secret@git.example.com/p.git", "ssh://git@git.example.com/p.git"),
        ("git@github.com:acme/p.git", "git@github.com:acme/p.git"),
    ],
)
def test_credentials_never_show_in_a_redacted_url(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_mirror_follows_the_remotes_default_branch(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "README").write_text("hello\n")
    sha = commit_all(work, "first")
    git(work, "branch", "-m", "main", "trunk")
    mirror = Mirror(work.as_uri(), tmp_path / "mirror.git")
    assert mirror.fetch_branch(None) == "trunk"
    assert git(mirror.path, "rev-parse", "HEAD") == sha
    assert git(mirror.path, "symbolic-ref", "HEAD") == "refs/heads/trunk"
    assert not mirror.fetch("refs/heads/runink/lineage", missing_ok=True)
    with pytest.raises(FetchFailed, match="cannot fetch nope from file://"):
        mirror.fetch("refs/heads/nope")
