"""Read the files of a pipeline repository from a working directory or a git commit.

Both readers yield the same thing: every file Runink reads, with its repo-relative
POSIX path, git blob sha and bytes. A commit is read from its tree with gitpython
(no checkout). Symlinks are followed only when they stay inside the repository;
files over the size cap are not read.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import git

from runink.findings import Finding, Position, RuninkError

MAX_FILE_BYTES = 10 * 1024 * 1024

# What a pipeline repository holds (DESIGN §3); anything else is not read.
_TOP_FILES = ("runink.yaml",)
_DIRS = {
    "herds": (".yaml", ".yml"),
    "contracts": (".yaml", ".yml"),
    "features": (".dsl",),
    "steps": (".py",),
}
_GOLDEN_DIR = "golden"
_GOLDEN_EXT = ".jsonl"
_KNOWN_TOPS = frozenset((*_TOP_FILES, *_DIRS, _GOLDEN_DIR))


@dataclass(frozen=True)
class RawFile:
    """One file as read: repo-relative POSIX path, git blob sha, content."""

    path: str
    sha: str
    data: bytes


class Tree(ABC):
    """A pipeline repository's files at one point: a working directory or a commit."""

    root: str
    revision: str | None

    @abstractmethod
    def paths(self) -> list[str]:
        """Repo-relative paths of the files Runink reads, sorted."""

    @abstractmethod
    def read(self, path: str) -> RawFile | Finding:
        """The file at ``path``, or a finding saying why it cannot be read."""

    def known_sha(self, path: str) -> str | None:
        """The blob sha of ``path`` when it is known without reading the file (a commit's
        tree lists it); None when only reading can tell (a working directory)."""
        return None

    def close(self) -> None:  # noqa: B027 - a hook: only some trees hold anything open
        """Release what reading holds open (a commit's git helper processes)."""

    @property
    def problems(self) -> tuple[Finding, ...]:
        """Problems met while listing the tree (e.g. links that leave it)."""
        return ()


def blob_sha(data: bytes) -> str:
    """The git blob id of ``data``, so a working dir and a commit key caches alike."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


def is_wanted(path: str) -> bool:
    """Whether ``path`` (repo-relative, POSIX) is a file Runink reads."""
    if path in _TOP_FILES:
        return True
    parts = path.split("/")
    if parts[0] in _DIRS and len(parts) == 2:
        return parts[1].endswith(_DIRS[parts[0]]) and not parts[1].startswith(".")
    return parts[0] == _GOLDEN_DIR and len(parts) >= 3 and path.endswith(_GOLDEN_EXT)


def resolve_inside(base_dir: str, target: str) -> str | None:
    """Join a relative ``target`` to repo-relative ``base_dir``; None if it escapes."""
    if target.startswith("/") or "\\" in target or "\0" in target:
        return None
    joined = posixpath.normpath(posixpath.join(base_dir, target))
    if joined in (".", "") or joined == ".." or joined.startswith("../"):
        return None
    return joined


def _too_large(path: str, size: int) -> Finding:
    return Finding(
        "repo.file-too-large",
        f"file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes",
        Position(path),
        hint="split it, or keep large data outside the pipeline repository",
    )


def _symlink_outside(path: str, target: str) -> Finding:
    return Finding(
        "repo.symlink-outside",
        f"symlink points outside the repository ({target!r}); not followed",
        Position(path),
        hint="copy the file into the repository instead of linking to it",
    )


def _dangling(path: str, target: str) -> Finding:
    return Finding(
        "repo.symlink-dangling",
        f"symlink points to {target!r}, which does not exist",
        Position(path),
        hint="fix or remove the link",
    )


def _missing(path: str) -> Finding:
    return Finding(
        "repo.missing-file",
        f"{path} does not exist",
        Position(path),
        hint="add the file, or fix the path that names it",
    )


def _escape(path: str) -> Finding:
    return Finding(
        "repo.path-escape",
        f"{path!r} points outside the repository",
        Position(path),
        hint="paths are relative to the repository root and may not contain '..' past it",
    )


class DirectoryTree(Tree):
    """A pipeline repository in a working directory."""

    def __init__(self, root: Path) -> None:
        resolved = root.resolve()
        if not resolved.is_dir():
            raise RuninkError(
                [
                    Finding(
                        "repo.not-found",
                        f"{root} is not a directory",
                        Position(str(root)),
                        hint="pass the path of a pipeline repository (it holds runink.yaml)",
                    )
                ]
            )
        self.base = resolved
        self.root = str(resolved)
        self.revision = None
        self._problems: list[Finding] = []
        self._paths = sorted(p for p in _walk(resolved, self._problems) if is_wanted(p))

    def paths(self) -> list[str]:
        return list(self._paths)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(self._problems)

    def read(self, path: str) -> RawFile | Finding:
        rel = resolve_inside("", path)
        if rel is None:
            return _escape(path)
        full = self.base / rel
        try:
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(full)
                real = full.resolve()
                if resolve_inside(posixpath.dirname(rel), target) is None or not (
                    real.is_relative_to(self.base)
                ):
                    return _symlink_outside(rel, target)
                if not real.exists():
                    return _dangling(rel, target)
                st = real.stat()
                full = real
            if not stat.S_ISREG(st.st_mode):
                return _missing(rel)
            if st.st_size > MAX_FILE_BYTES:
                return _too_large(rel, st.st_size)
            data = full.read_bytes()
        except FileNotFoundError:
            return _missing(rel)
        except OSError as exc:
            return Finding("repo.unreadable", f"cannot read file: {exc.strerror}", Position(rel))
        return RawFile(rel, blob_sha(data), data)


def _walk(root: Path, findings: list[Finding]) -> Iterator[str]:
    """Repo-relative paths of the entries Runink may read.

    Directory symlinks are never descended; one that leaves the repository is reported.
    """
    for name in _TOP_FILES:
        if (root / name).is_symlink() or (root / name).exists():
            yield name
    for top in (*_DIRS, _GOLDEN_DIR):
        base = root / top
        if base.is_symlink():
            if not base.resolve().is_relative_to(root):
                findings.append(_symlink_outside(top, os.readlink(base)))
            continue
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            current = Path(dirpath)
            rel_dir = current.relative_to(root).as_posix()
            for d in dirnames:
                link = current / d
                if link.is_symlink() and not link.resolve().is_relative_to(root):
                    findings.append(_symlink_outside(f"{rel_dir}/{d}", os.readlink(link)))
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and not (current / d).is_symlink()
            )
            for name in filenames:
                link = current / name
                if link.is_symlink() and not link.resolve().is_relative_to(root):
                    findings.append(_symlink_outside(f"{rel_dir}/{name}", os.readlink(link)))
                    continue
                yield f"{rel_dir}/{name}"


def open_repo(path: Path) -> git.Repo:
    """The git repository holding ``path`` (a RuninkError when there is none)."""
    try:
        return git.Repo(path.resolve(), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RuninkError(
            [
                Finding(
                    "repo.not-git",
                    f"{path} is not inside a git repository",
                    Position(str(path)),
                    hint="drop --rev to read the working directory",
                )
            ]
        ) from None


class CommitTree(Tree):
    """A pipeline repository as committed: blobs read from the commit's tree, no checkout.

    ``path`` may be a subdirectory of the git work tree; the pipeline repository
    is then that subdirectory of the commit's tree.
    """

    def __init__(
        self, path: Path, rev: str, *, repo: git.Repo | None = None, base: CommitTree | None = None
    ) -> None:
        """Read commit ``rev`` of the repository at ``path``.

        With ``repo``, that open Repo is used (and not closed by :meth:`close`). With
        ``base``, an earlier CommitTree of the same repository, the listing is ``base``'s
        plus what ``git diff-tree`` says changed, and :attr:`changed` names those paths.
        """
        path = path.resolve()
        self._owns_repo = repo is None
        repo = repo or open_repo(path)
        try:
            commit = repo.commit(rev)
        except (git.BadName, ValueError, git.GitCommandError):
            raise RuninkError(
                [
                    Finding(
                        "repo.unknown-revision",
                        f"unknown revision {rev!r}",
                        Position(str(path)),
                        hint="name a commit, branch or tag (git rev-parse must accept it)",
                    )
                ]
            ) from None
        work_tree = Path(repo.working_tree_dir or path).resolve()
        prefix = path.relative_to(work_tree).as_posix() if path != work_tree else ""
        tree = commit.tree
        if prefix:
            try:
                sub = tree / prefix
            except KeyError:
                sub = None
            if not isinstance(sub, git.Tree):
                raise RuninkError(
                    [
                        Finding(
                            "repo.not-found",
                            f"{prefix!r} does not exist in commit {commit.hexsha[:12]}",
                            Position(prefix),
                            hint="was the directory committed at that revision?",
                        )
                    ]
                )
            tree = sub
        self.root = str(path)
        self.revision = commit.hexsha
        self.tree_sha: str = tree.hexsha
        self._repo = repo
        self.changed: frozenset[str] | None = None
        """Paths whose blob (or mode) differs from ``base``'s; None without a base."""
        self._problems: list[Finding] = []
        self._escaping: set[str] = set()
        self.links = 0
        """How many symlinks Runink may follow: a tree with any is listed in full, as a
        link's target can change while the link does not."""
        if base is not None and base.links == 0:
            self._blobs = self._delta(base)
            if not any(self._is_link(p) for p in self.changed or frozenset[str]()):
                return
            self.changed = None
        self._blobs = self._listing()
        for rel in sorted(p for p in self._blobs if self._is_link(p)):
            self.links += 1
            target = self._data(self._blobs[rel][1]).decode("utf-8", "replace")
            if resolve_inside(posixpath.dirname(rel), target) is None:
                self._problems.append(_symlink_outside(rel, target))
                self._escaping.add(rel)

    def _is_link(self, path: str) -> bool:
        entry = self._blobs.get(path)
        return (
            entry is not None
            and entry[0] == git.Blob.link_mode
            and path.split("/")[0] in _KNOWN_TOPS
        )

    def _listing(self) -> dict[str, tuple[int, str]]:
        """Every blob of the tree: one `git ls-tree` lists them (mode, sha, path) in C;
        walking gitpython's objects costs a Python object and a lookup per file."""
        listing = self._repo.git.ls_tree("-r", "-z", "--full-tree", self.tree_sha)
        blobs: dict[str, tuple[int, str]] = {}
        for entry in listing.split("\0"):
            if not entry:
                continue
            meta, _, item_path = entry.partition("\t")
            mode, kind, sha = meta.split()
            if kind == "blob":
                blobs[item_path] = (int(mode, 8), sha)
        return blobs

    def _delta(self, base: CommitTree) -> dict[str, tuple[int, str]]:
        """``base``'s blobs changed as `git diff-tree` says (it skips equal subtrees).

        ``base`` is consumed: its listing becomes this tree's (a copy per push would
        cost in proportion to the repository), and ``base`` cannot be read any more.
        """
        updates: dict[str, tuple[int, str] | None] = {}
        if base.tree_sha != self.tree_sha:
            # No index: diff-tree compares two trees, yet git reads a work tree's index
            # first, which costs more than the diff in a large repository.
            no_index = {"GIT_INDEX_FILE": str(Path(self._repo.git_dir) / "runink-no-index")}
            out = self._repo.git.diff_tree(
                "-r", "-z", "--no-renames", base.tree_sha, self.tree_sha, env=no_index
            )
            fields = out.split("\0")
            for meta, item_path in zip(fields[0::2], fields[1::2], strict=False):
                if not meta.startswith(":"):
                    continue
                _, new_mode, _, new_sha, _ = meta[1:].split(" ")
                mode = int(new_mode, 8)
                gone = mode == 0 or stat.S_ISDIR(mode) or mode == 0o160000  # or a submodule
                updates[item_path] = None if gone else (mode, new_sha)
        blobs, base._blobs = base._blobs, {}
        base.links = -1  # never a base again
        for item_path, entry in updates.items():
            if entry is None:
                blobs.pop(item_path, None)
            else:
                blobs[item_path] = entry
        self.changed = frozenset(updates)
        return blobs

    def close(self) -> None:
        if self._owns_repo:
            self._repo.close()

    def _data(self, sha: str) -> bytes:
        data: bytes = self._repo.odb.stream(bytes.fromhex(sha)).read()
        return data

    def paths(self) -> list[str]:
        return sorted(p for p in self._blobs if is_wanted(p) and p not in self._escaping)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(self._problems)

    def known_sha(self, path: str) -> str | None:
        entry = self._blobs.get(path)
        if entry is None or entry[0] == git.Blob.link_mode:
            return None
        return entry[1]

    def read(self, path: str) -> RawFile | Finding:
        rel = resolve_inside("", path)
        if rel is None:
            return _escape(path)
        entry = self._blobs.get(rel)
        if entry is None:
            return _missing(rel)
        mode, sha = entry
        if mode == git.Blob.link_mode:
            target = self._data(sha).decode("utf-8", "replace")
            inside = resolve_inside(posixpath.dirname(rel), target)
            if inside is None:
                return _symlink_outside(rel, target)
            if inside not in self._blobs or self._blobs[inside][0] == git.Blob.link_mode:
                return _dangling(rel, target)
            sha = self._blobs[inside][1]
        stream = self._repo.odb.stream(bytes.fromhex(sha))
        if stream.size > MAX_FILE_BYTES:
            return _too_large(rel, stream.size)
        return RawFile(rel, sha, stream.read())


def open_tree(path: Path, rev: str | None = None) -> Tree:
    """The repository at ``path``: its working directory, or commit ``rev``."""
    return DirectoryTree(path) if rev is None else CommitTree(path, rev)
