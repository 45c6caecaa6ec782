"""Cheap reads of a git repository for the audit: listings, blobs and greps, no checkout.

An audit must cost what the change costs, not what the repository weighs, so it
never walks a whole commit in Python: ``git ls-tree`` lists a commit in one call,
``git grep`` finds the features that name something, and ``git cat-file --batch``
reads only the blobs the audit needs. Works in a bare repository (a pre-receive
hook, where pushed objects are still in quarantine: git's environment says where).
"""

from __future__ import annotations

import posixpath
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from runink.findings import Finding, Position, RuninkError
from runink.repo.sources import (
    MAX_FILE_BYTES,
    RawFile,
    Tree,
    blob_sha,
    is_wanted,
    resolve_inside,
)

ZERO_SHA = "0" * 40
_LINK_MODE = "120000"


@dataclass(frozen=True)
class Entry:
    mode: str
    sha: str


class GitRepo:
    """A git repository seen from ``path`` (a work tree, a subdirectory or a bare repo)."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        if not self.path.is_dir():
            raise _error("repo.not-found", f"{path} is not a directory", str(path))
        bare = self._try("rev-parse", "--is-bare-repository")
        if bare is None:
            raise RuninkError(
                [
                    Finding(
                        "repo.not-git",
                        f"{path} is not inside a git repository",
                        Position(str(path)),
                        hint="an audit compares two commits: run it in a git clone",
                    )
                ]
            )
        self.bare = bare.strip() == "true"
        self.prefix = "" if self.bare else (self._try("rev-parse", "--show-prefix") or "").strip()
        self._reader: subprocess.Popen[bytes] | None = None

    def _try(self, *args: str) -> str | None:
        result = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, check=False, timeout=120
        )
        return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else None

    def _run(self, *args: str) -> bytes:
        result = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, check=False, timeout=300
        )
        if result.returncode != 0:
            message = result.stderr.decode("utf-8", "replace").strip().splitlines()
            raise _error("repo.git", f"git {args[0]} failed: {' '.join(message[-1:])}", "")
        return result.stdout

    def resolve(self, rev: str) -> str:
        """The commit sha ``rev`` names; a finding when it names none."""
        out = self._try("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if not out:
            raise _error(
                "repo.unknown-revision",
                f"unknown revision {rev!r}",
                str(self.path),
                "name a commit, branch or tag (git rev-parse must accept it); in CI fetch "
                "the base branch first (actions/checkout with fetch-depth: 0)",
            )
        return out.strip()

    def listing(self, commit: str, specs: Iterable[str] | None = None) -> dict[str, Entry]:
        """Blobs of the commit under the pipeline repository (all, or under ``specs``)."""
        args = ["ls-tree", "-r", "-z", "--full-tree", commit, "--"]
        if specs is None:
            args += [self.prefix.rstrip("/")] if self.prefix else []
        else:
            wanted = sorted(set(specs))
            if not wanted:
                return {}
            args += [f"{self.prefix}{spec}" for spec in wanted]
        entries: dict[str, Entry] = {}
        for record in self._run(*args).split(b"\0"):
            if not record:
                continue
            meta, _, name = record.partition(b"\t")
            mode, kind, sha = meta.split()
            if kind != b"blob":
                continue
            path = name.decode("utf-8", "surrogateescape")
            rel = path[len(self.prefix) :] if self.prefix else path
            entries[rel] = Entry(mode.decode(), sha.decode())
        return entries

    def changes(self, base: str, head: str) -> set[str]:
        """Paths that differ between two commits; git skips identical subtrees by hash."""
        out = self._run("diff-tree", "-r", "-z", "--no-renames", "--name-only", base, head, "--")
        paths = {p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p}
        if not self.prefix:
            return paths
        return {p[len(self.prefix) :] for p in paths if p.startswith(self.prefix)}

    def show(self, commit: str, path: str) -> bytes | None:
        """The file at ``path`` in ``commit`` (None when there is none)."""
        return self._object(f"{commit}:{self.prefix}{path}")

    def worktree_changes(self, base: str) -> set[str]:
        """Paths (relative to the pipeline repository) that differ from ``base`` on disk."""
        diff = self._run("diff", "--name-only", "-z", "--no-renames", "--relative", base, "--", ".")
        untracked = self._run("ls-files", "-o", "--exclude-standard", "-z", "--", ".")
        return {
            p.decode("utf-8", "surrogateescape")
            for p in (*diff.split(b"\0"), *untracked.split(b"\0"))
            if p
        }

    def grep(self, commit: str | None, words: Iterable[str], under: str) -> set[str]:
        """Files under ``under`` naming any of ``words`` literally (at ``commit``, or on disk)."""
        patterns = sorted(set(words))
        if not patterns:
            return set()
        args = ["grep", "-l", "-z", "-F", "--no-color"]
        for word in patterns:
            args += ["-e", word]
        if commit is None:
            args += ["--untracked", "--", under]
        else:
            args += [commit, "--", under]
        result = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, check=False, timeout=300
        )
        if result.returncode not in (0, 1):
            raise _error("repo.git", "git grep failed: " + result.stderr.decode()[-200:], "")
        found = set()
        for item in result.stdout.split(b"\0"):
            if not item:
                continue
            path = item.decode("utf-8", "surrogateescape")
            if commit is not None:
                # "<commit>:<path>", the path relative to the cwd like the listing's
                path = path.split(":", 1)[1]
            found.add(path)
        return found

    def read_blob(self, sha: str) -> bytes:
        """The bytes of blob ``sha`` (one long-lived ``git cat-file --batch``)."""
        data = self._object(sha)
        if data is None:
            raise _error("repo.git", f"cannot read blob {sha}", "")
        return data

    def _object(self, name: str) -> bytes | None:
        if self._reader is None:
            self._reader = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self.path,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        assert self._reader.stdin is not None and self._reader.stdout is not None
        self._reader.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
        self._reader.stdin.flush()
        header = self._reader.stdout.readline().split()
        if len(header) < 3 or header[1] != b"blob":
            if len(header) >= 3:  # an object of another kind: skip its bytes
                self._reader.stdout.read(int(header[2]) + 1)
            return None
        data = self._reader.stdout.read(int(header[2]))
        self._reader.stdout.read(1)
        return data

    def close(self) -> None:
        """Stop the blob reader, if one runs."""
        if self._reader is not None:
            assert self._reader.stdin is not None
            self._reader.stdin.close()
            self._reader.wait(timeout=30)
            if self._reader.stdout is not None:
                self._reader.stdout.close()
            self._reader = None


class ListedTree(Tree):
    """One commit of a :class:`GitRepo`, limited to the paths the audit asks for."""

    def __init__(
        self,
        repo: GitRepo,
        commit: str,
        listing: Mapping[str, Entry],
        only: Iterable[str] | None = None,
    ) -> None:
        self.repo = repo
        self.root = str(repo.path)
        self.revision = commit
        self.listing = dict(listing)
        self._looked_up: set[str] = set()
        wanted = listing.keys() if only is None else set(only) & listing.keys()
        self._paths = sorted(p for p in wanted if is_wanted(p))

    def paths(self) -> list[str]:
        return list(self._paths)

    def _entry(self, rel: str) -> Entry | None:
        """The listed entry, or (a file named by another, e.g. allowedSigners) a lookup."""
        if rel not in self.listing and rel not in self._looked_up:
            self._looked_up.add(rel)
            self.listing = {**self.listing, **self.repo.listing(self.revision or "", [rel])}
        return self.listing.get(rel)

    def read(self, path: str) -> RawFile | Finding:
        rel = resolve_inside("", path)
        if rel is None or self._entry(rel) is None:
            return Finding(
                "repo.missing-file",
                f"{path} does not exist",
                Position(path),
                hint="add the file, or fix the path that names it",
            )
        entry = self.listing[rel]
        if entry.mode == _LINK_MODE:
            target = self.repo.read_blob(entry.sha).decode("utf-8", "replace")
            inside = resolve_inside(posixpath.dirname(rel), target)
            if inside is None:
                return Finding(
                    "repo.symlink-outside",
                    f"symlink points outside the repository ({target!r}); not followed",
                    Position(rel),
                    hint="copy the file into the repository instead of linking to it",
                )
            linked = self._entry(inside)
            if linked is None or linked.mode == _LINK_MODE:
                return Finding(
                    "repo.symlink-dangling",
                    f"symlink points to {target!r}, which does not exist",
                    Position(rel),
                    hint="fix or remove the link",
                )
            entry = linked
        data = self.repo.read_blob(entry.sha)
        if len(data) > MAX_FILE_BYTES:
            return Finding(
                "repo.file-too-large",
                f"file is {len(data)} bytes; the limit is {MAX_FILE_BYTES} bytes",
                Position(rel),
                hint="split it, or keep large data outside the pipeline repository",
            )
        return RawFile(rel, entry.sha, data)


class SubsetTree(Tree):
    """Another tree (e.g. a working directory) limited to some paths."""

    def __init__(self, tree: Tree, only: Iterable[str]) -> None:
        self.tree = tree
        self.root = tree.root
        self.revision = tree.revision
        keep = set(only)
        self._paths = [p for p in tree.paths() if p in keep]

    def paths(self) -> list[str]:
        return list(self._paths)

    def read(self, path: str) -> RawFile | Finding:
        return self.tree.read(path)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.tree.problems if f.file in self._paths)


def file_sha(tree: Tree, path: str) -> str | None:
    """The blob sha of ``path`` in ``tree`` (None when it cannot be read)."""
    raw = tree.read(path)
    return None if isinstance(raw, Finding) else blob_sha(raw.data)


def _error(code: str, message: str, where: str, hint: str = "") -> RuninkError:
    return RuninkError([Finding(code, message, Position(where or "."), hint=hint)])
