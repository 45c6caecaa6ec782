"""Finished runs' events as signed commits on the lineage branch (DESIGN §8).

Commits are built from git objects alone: blobs (``hash-object -w``), a tree written
from a private, temporary index file (``read-tree``, ``update-index``, ``write-tree``),
``commit-tree -S`` and ``update-ref`` with the expected old value. Nothing here reads
or writes the work tree, the repository's index or any branch but the lineage branch,
which starts as an orphan (its first commit has no parent).

A run is one file, ``lineage/<herd>/<feature>/<scenario>/<run_id>.json``: the list of
its events, START first, as canonical JSON (sorted keys, stable bytes). Each commit
carries one ``Runink-Run-Id`` trailer per run it adds, its ``Runink-Source-Revision``
(a commit holds runs of one source revision) and one ``Runink-Pipeline`` trailer per
pipeline. :meth:`LineageRepo.append` never rewrites the branch: when the ref moved
under it (another server, a person), it builds again on the new tip.
:class:`RemoteLineageRepo` does the same for a remote: fetch, build, push without force.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import orjson

from runink.api.keys import KeyNameError, check_name, pipeline_id
from runink.api.records import unpack_events
from runink.lineage import sigstore
from runink.repo.remote import Mirror, RemoteError

LINEAGE_ROOT: Final = "lineage"
RUN_ID_TRAILER: Final = "Runink-Run-Id"
REVISION_TRAILER: Final = "Runink-Source-Revision"
PIPELINE_TRAILER: Final = "Runink-Pipeline"
TERMINAL_EVENTS: Final = frozenset({"COMPLETE", "FAIL", "ABORT"})
COMMITTER: Final = {
    "GIT_AUTHOR_NAME": "Runink lineage",
    "GIT_AUTHOR_EMAIL": "lineage@runink.invalid",
    "GIT_COMMITTER_NAME": "Runink lineage",
    "GIT_COMMITTER_EMAIL": "lineage@runink.invalid",
}
_ZERO: Final = "0" * 40
_GIT_TIMEOUT: Final = 120.0


class LineageError(Exception):
    """Git refused a lineage operation (a message to show, never a traceback)."""


class PendingError(ValueError):
    """A pending entry that is not a run's events (what is wrong with it)."""


@dataclass(frozen=True)
class PendingRun:
    """One finished run waiting in ``/lineage/pending/<run_id>``."""

    run_id: str
    herd: str
    pipeline: str  # <herd>/<feature>/<scenario>
    revision: str
    ended_at: str
    events: tuple[Mapping[str, Any], ...]
    packed: bytes = field(default=b"", compare=False, repr=False)
    """The file's bytes when the events were let go (:meth:`compact`)."""

    @classmethod
    def from_value(cls, value: object) -> PendingRun:
        """Read a pending entry's value; PendingError says what is wrong with it."""
        if not isinstance(value, Mapping):
            raise PendingError("the value is not a JSON object")
        try:
            run_id = check_name("run", str(value.get("run_id", "")))
            herd = str(value.get("herd", ""))
            pipeline = pipeline_id(herd, str(value.get("pipeline", "")))
        except KeyNameError as exc:
            raise PendingError(str(exc)) from None
        try:
            events = unpack_events(value)
        except ValueError as exc:
            raise PendingError(str(exc)) from None
        if not isinstance(events, list) or not events:
            raise PendingError("events must be a non-empty list")
        if not all(isinstance(e, Mapping) for e in events):
            raise PendingError("every event must be a JSON object")
        return cls(
            run_id=run_id,
            herd=herd,
            pipeline=pipeline,
            revision=str(value.get("revision") or ""),
            ended_at=str(value.get("ended_at") or ""),
            events=tuple(sorted(events, key=event_order)),
        )

    @property
    def path(self) -> str:
        """``lineage/<herd>/<feature>/<scenario>/<run_id>.json``."""
        return run_path(self.pipeline, self.run_id)

    def content(self) -> bytes:
        """The file's bytes: canonical JSON of the events, START first."""
        return self.packed or canonical(self.events)

    def compact(self) -> PendingRun:
        """The same run holding its file's bytes instead of hundreds of event objects.

        For runs kept waiting for a batch: the garbage collector walks every object the
        server holds, and its pauses are paid by every run report (bench/lineage.py).
        """
        return replace(self, events=(), packed=self.content())

    def problems(self) -> list[str]:
        """What makes these events not one run's record (schema aside)."""
        return run_problems(self.events, self.run_id)


def run_path(pipeline: str, run_id: str) -> str:
    return f"{LINEAGE_ROOT}/{pipeline}/{run_id}.json"


def canonical(events: Iterable[Mapping[str, Any]]) -> bytes:
    """Sorted keys, no insignificant whitespace, one trailing newline."""
    return orjson.dumps(list(events), option=orjson.OPT_SORT_KEYS) + b"\n"


def run_problems(events: Sequence[Mapping[str, Any]], run_id: str) -> list[str]:
    """A run's file holds one START and exactly one terminal event, all of ``run_id``."""
    found: list[str] = []
    types = [str(e.get("eventType", "")) for e in events]
    if types.count("START") != 1:
        found.append(f"expected one START event, found {types.count('START')}")
    terminal = [t for t in types if t in TERMINAL_EVENTS]
    if len(terminal) != 1:
        found.append(f"expected exactly one COMPLETE, FAIL or ABORT event, found {len(terminal)}")
    ids = {str((e.get("run") or {}).get("runId", "")) for e in events}
    if ids != {run_id}:
        found.append(f"events carry runId {sorted(ids)}, expected only {run_id}")
    return found


def event_order(event: Mapping[str, Any]) -> tuple[int, str]:
    return (0 if event.get("eventType") == "START" else 1, str(event.get("eventTime", "")))


@dataclass(frozen=True)
class Signing:
    """How lineage commits are signed: ``ssh`` with ``key``, ``sigstore`` or ``none``.

    ``sigstore`` is keyless: each commit holds a Sigstore bundle signing the manifest of
    what it adds (:mod:`runink.lineage.sigstore`); ``sign_manifest`` makes that bundle
    (default: Sigstore's public instance with the ambient OIDC identity, over the network).
    """

    mode: str = "ssh"
    key: Path | None = None
    sign_manifest: Callable[[bytes], bytes] | None = field(default=None, compare=False)
    # A commit rebuilt on a moved tip adds the same files: its manifest, and so its
    # bundle, are the same. One Rekor entry per manifest, not one per attempt.
    _bundles: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def options(self) -> list[str]:
        if self.mode in ("none", "sigstore"):
            return ["-c", "commit.gpgSign=false"]
        if self.mode != "ssh" or self.key is None:
            raise LineageError(
                f"lineage signing {self.mode!r} needs an SSH key and none is set: start the "
                "server with --lineage-signing-key PATH (or RUNINK_LINEAGE_SIGNING_KEY), or "
                "opt out with spec.lineage.signing: none in runink.yaml"
            )
        return ["-c", "gpg.format=ssh", "-c", f"user.signingKey={self.key}"]

    def bundle(self, manifest_bytes: bytes) -> bytes:
        """The Sigstore bundle signing ``manifest_bytes`` (LineageError if none can be made)."""
        digest = sigstore.bundle_path(manifest_bytes)
        found = self._bundles.get(digest)
        if found is None:
            try:
                found = (self.sign_manifest or sigstore.sign)(manifest_bytes)
            except sigstore.SigstoreError as exc:
                raise LineageError(str(exc)) from None
            self._bundles[digest] = found
        return found


@dataclass(frozen=True)
class Appended:
    """What :meth:`LineageRepo.append` did: its new commits, the runs already there."""

    commits: tuple[str, ...]
    already: frozenset[str]
    conflicts: int


class LineageConflict(LineageError):
    """Other writers moved the branch under every attempt; ``conflicts`` counts them."""

    def __init__(self, message: str, conflicts: int) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class LineageRepo:
    """The lineage branch of one repository (a work tree's repo or a bare one)."""

    backoff_base = 0.01  # seconds before the first retry (at most); doubles, to the cap
    backoff_cap = 0.5

    def __init__(self, path: Path, branch: str) -> None:
        self.path = path
        self.branch = branch
        self.ref = f"refs/heads/{branch}"

    # -- reading -------------------------------------------------------------------

    def tip(self) -> str | None:
        """The branch's commit, None while it does not exist."""
        done = self._git("rev-parse", "--verify", "-q", f"{self.ref}^{{commit}}", check=False)
        return done.stdout.strip() or None

    def present(self, tip: str | None, runs: Iterable[PendingRun]) -> set[str]:
        """The run ids among ``runs`` whose file is already in ``tip``'s tree."""
        by_path = {r.path: r.run_id for r in runs}
        if tip is None or not by_path:
            return set()
        listed = self._git("ls-tree", "--name-only", "-z", tip, "--", *by_path).stdout
        return {by_path[p] for p in listed.split("\0") if p in by_path}

    # -- writing -------------------------------------------------------------------

    def append(
        self, runs: Sequence[PendingRun], signing: Signing, *, attempts: int = 8
    ) -> Appended:
        """Commit ``runs`` not yet on the branch, one commit per source revision.

        A moved ref (compare-and-swap failed, or a push rejected) is answered by building
        again on the new tip, after a jittered exponential backoff; runs that appeared
        there meanwhile are left out. LineageConflict when every attempt lost the race.
        """
        self._refresh()
        for attempt in range(attempts):
            tip = self.tip()
            already = self.present(tip, runs)
            todo = [r for r in runs if r.run_id not in already]
            if not todo:
                return Appended((), frozenset(already), attempt)
            commits = self._build(tip, todo, signing)
            if self._advance(commits[-1], tip):
                return Appended(tuple(commits), frozenset(already), attempt)
            # Jitter: two writers that collided must not retry in step and collide again.
            ceiling = min(self.backoff_base * 2**attempt, self.backoff_cap)
            time.sleep(random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not a secret
            self._refresh()  # the tip as it is after the wait, not before it
        raise LineageConflict(
            f"{self.ref} kept moving: gave up after {attempts} attempts (the runs stay "
            "pending and are tried again)",
            attempts,
        )

    def _refresh(self) -> None:
        """Bring the branch up to date before building on it (a local ref always is)."""

    def _build(self, tip: str | None, runs: Sequence[PendingRun], signing: Signing) -> list[str]:
        blobs = self._blobs(runs)
        groups: dict[str, list[PendingRun]] = {}
        for run in runs:
            groups.setdefault(run.revision, []).append(run)
        commits: list[str] = []
        parent = tip
        with tempfile.TemporaryDirectory(prefix="runink-lineage-") as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            if parent is None:
                self._git("read-tree", "--empty", env=env)
            else:
                self._git("read-tree", parent, env=env)
            for revision, group in groups.items():
                entries = "".join(f"100644 {blobs[r.run_id]}\t{r.path}\0" for r in group)
                if signing.mode == "sigstore":
                    entries += self._bundle_entry(group, revision, blobs, signing)
                self._git("update-index", "-z", "--add", "--index-info", input=entries, env=env)
                tree = self._git("write-tree", env=env).stdout.strip()
                parents = ["-p", parent] if parent else []
                done = self._git(
                    *signing.options(),
                    "commit-tree",
                    *(["-S"] if signing.mode == "ssh" else []),
                    *parents,
                    tree,
                    "-F",
                    "-",
                    input=commit_message(group, revision),
                    env=COMMITTER,
                )
                parent = done.stdout.strip()
                commits.append(parent)
        return commits

    def _bundle_entry(
        self,
        group: Sequence[PendingRun],
        revision: str,
        blobs: Mapping[str, str],
        signing: Signing,
    ) -> str:
        """The index line of the bundle signing this commit's manifest (written as a blob)."""
        files = {r.path: sigstore.file_entry(blobs[r.run_id], r.content()) for r in group}
        signed = sigstore.manifest(files, commit_trailers(group, revision))
        bundle = signing.bundle(signed)
        blob = self._git(
            "hash-object", "-w", "--no-filters", "--stdin", input=bundle.decode()
        ).stdout.strip()
        return f"100644 {blob}\t{sigstore.bundle_path(signed)}\0"

    def _blobs(self, runs: Sequence[PendingRun]) -> dict[str, str]:
        """Write each run's file as a blob (one git process for all); run id -> blob id."""
        with tempfile.TemporaryDirectory(prefix="runink-lineage-") as scratch:
            paths = []
            for i, run in enumerate(runs):
                path = Path(scratch) / f"{i}.json"
                path.write_bytes(run.content())
                paths.append(str(path))
            out = self._git(
                "hash-object", "-w", "--no-filters", "--stdin-paths", input="\n".join(paths) + "\n"
            )
        ids = out.stdout.split()
        if len(ids) != len(runs):
            raise LineageError(f"git hash-object wrote {len(ids)} blobs for {len(runs)} runs")
        return {run.run_id: blob for run, blob in zip(runs, ids, strict=True)}

    def _advance(self, new: str, old: str | None) -> bool:
        """Move the branch to ``new`` if it still is at ``old``; False if it moved."""
        done = self._git(
            "update-ref", "-m", "runink lineage", self.ref, new, old or _ZERO, check=False
        )
        if done.returncode == 0:
            return True
        if self.tip() != old:
            return False
        raise LineageError(f"git update-ref {self.ref} failed: {done.stderr.strip()}")

    def _git(
        self,
        *args: str,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=self.path,
                input=input,
                capture_output=True,
                text=True,
                timeout=_GIT_TIMEOUT,
                env={**os.environ, **(env or {}), "GIT_TERMINAL_PROMPT": "0"},
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LineageError(f"git {args[0]} in {self.path}: {exc}") from None
        if check and done.returncode != 0:
            command = next((a for a in args if not a.startswith("-") and "=" not in a), "git")
            raise LineageError(f"git {command} in {self.path} failed: {done.stderr.strip()}")
        return done


class RemoteLineageRepo(LineageRepo):
    """The lineage branch of a remote, written through the source's local mirror.

    Each attempt fetches the remote's branch into the mirror, builds on that tip and
    pushes ``<commit>:<branch>`` without force: the remote accepts only a fast-forward,
    so whatever anyone else pushed stays an ancestor of the new tip. A rejected push
    (someone was faster) is a conflict: fetch, rebuild, retry. The mirror's ref moves
    only after the remote took the commit.
    """

    backoff_base = 0.05  # a round trip costs more than a local ref update
    backoff_cap = 2.0

    def __init__(self, mirror: Path, branch: str, url: str) -> None:
        super().__init__(mirror, branch)
        self.remote = Mirror(url, mirror)

    def _refresh(self) -> None:
        try:
            found = self.remote.fetch(self.ref, missing_ok=True)
        except RemoteError as exc:
            raise LineageError(str(exc)) from None
        if not found and self.tip() is not None:  # gone from the remote: start afresh
            self._git("update-ref", "-d", self.ref)

    def _advance(self, new: str, old: str | None) -> bool:
        """Push ``new`` (a descendant of ``old``); False if the remote moved meanwhile."""
        try:
            pushed = self.remote.push(new, self.ref)
        except RemoteError as exc:
            raise LineageError(str(exc)) from None
        if pushed.ok:
            self._git("update-ref", "-m", "runink lineage push", self.ref, new)
            return True
        self._refresh()
        if self.tip() != old:
            return False
        raise LineageError(
            f"{self.remote.display} refused {self.ref}: {pushed.reason} (the runs stay pending)"
        )


def commit_trailers(runs: Sequence[PendingRun], revision: str) -> dict[str, list[str]]:
    """The trailers of the commit adding ``runs``: name -> values, in message order."""
    return {
        RUN_ID_TRAILER: [r.run_id for r in runs],
        REVISION_TRAILER: [revision] if revision else [],
        PIPELINE_TRAILER: sorted({r.pipeline for r in runs}),
    }


def commit_message(runs: Sequence[PendingRun], revision: str) -> str:
    """Subject, then the trailers that tie the commit to its runs and their source."""
    trailers = commit_trailers(runs, revision)
    pipelines = trailers[PIPELINE_TRAILER]
    noun = "run" if len(runs) == 1 else "runs"
    subject = f"lineage: {len(runs)} {noun} of {pipelines[0]}"
    if len(pipelines) > 1:
        subject += f" and {len(pipelines) - 1} more pipeline(s)"
    lines = [f"{name}: {value}" for name, values in trailers.items() for value in values]
    return subject + "\n\n" + "\n".join(lines) + "\n"
