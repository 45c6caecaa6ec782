"""A pipeline repository at one commit, materialised read-only under the agent's data dir.

Commits are extracted with ``git archive`` (from the local repository, or a bare mirror
of a remote one), so the user's work tree is never touched and a commit's tree is
exactly what was pushed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tarfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runink.repo import RepoLoader, RepoSnapshot
from runink.repo.herd import Herd
from runink.repo.remote import Mirror, RemoteError, is_url

GIT_TIMEOUT = 120.0


class CheckoutError(Exception):
    """A commit could not be materialised (names the repository and the commit)."""


def sha_of(revision: str) -> str:
    """The commit sha of a revision ``branch@sha1:<sha>`` (or a bare sha)."""
    return revision.rsplit("sha1:", 1)[-1] if "sha1:" in revision else revision


def _git(*args: str, cwd: Path | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CheckoutError(f"git {args[0]} failed: {exc}") from None
    if done.returncode != 0:
        raise CheckoutError(f"git {' '.join(args[:2])}: {done.stderr.decode(errors='replace')}")
    return done.stdout


@dataclass(frozen=True)
class Checkout:
    """One commit on disk and what the agent reads from it."""

    sha: str
    path: Path
    snapshot: RepoSnapshot

    @property
    def contracts(self) -> Mapping[str, Mapping[str, Any]]:
        return {c.id: c.document for c in self.snapshot.contracts}

    def herd(self, name: str) -> Herd | None:
        return next((h for h in self.snapshot.herds if h.name == name), None)


class Checkouts:
    """Materialises commits of ``repo`` under ``<data_dir>/checkouts/<sha>/`` (cached)."""

    def __init__(self, repo: str, data_dir: Path) -> None:
        self.repo = repo
        self.root = data_dir / "checkouts"
        self._mirror = data_dir / "mirror.git"
        self._lock = threading.Lock()
        self._cache: dict[str, Checkout] = {}
        self._loader = RepoLoader()

    def _git_dir(self, sha: str, branch: str | None = None) -> Path:
        """Where commit ``sha`` can be read: the repository, or the mirror of a URL
        (fetched, as the server's, without writing the URL or its credentials)."""
        if not is_url(self.repo) or Path(self.repo).is_dir():
            return Path(self.repo)
        try:
            _git("cat-file", "-e", f"{sha}^{{commit}}", cwd=self._mirror)
        except CheckoutError:
            try:
                Mirror(self.repo, self._mirror).fetch_branch(branch)
            except RemoteError as exc:
                raise CheckoutError(str(exc)) from None
        return self._mirror

    def get(self, revision: str) -> Checkout:
        """The commit of ``revision``, extracted once and reused."""
        sha = sha_of(revision)
        branch = revision.split("@sha1:", 1)[0] if "@sha1:" in revision else None
        with self._lock:
            if sha in self._cache:
                return self._cache[sha]
            git_dir = self._git_dir(sha, branch)
            target = self.root / sha
            if not target.exists():
                self._extract(git_dir, sha, target)
            # Read from git objects, as the server did: the loader reads only what
            # changed since the commit it read last.
            snapshot = self._loader.load(git_dir, sha)
            checkout = Checkout(sha, target, snapshot)
            self._cache[sha] = checkout
            return checkout

    def _extract(self, git_dir: Path, sha: str, target: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{sha}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        archive = partial.with_suffix(".tar")
        try:
            archive.write_bytes(_git("archive", "--format=tar", sha, cwd=git_dir))
            with tarfile.open(archive) as tar:
                tar.extractall(partial, filter="data")
            # Read-only: slices see it bound read-only anyway; this keeps people off it too.
            for path in (partial, *partial.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
            partial.rename(target)
        finally:
            archive.unlink(missing_ok=True)
            shutil.rmtree(partial, ignore_errors=True)
