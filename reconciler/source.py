"""The source controller: a repository's tracked branch -> a validated, compiled commit.

``reconcile(repo)`` resolves the branch head. A commit seen before costs nothing. A new
one is read straight from git objects (no checkout), validated and compiled with one
long-lived incremental :class:`Compiler`, so a push that changes one feature compiles
one feature. A valid commit becomes the repo's :class:`Desired` state and the apply
controller is told; an invalid one changes nothing that runs: the source's ``Ready``
condition turns ``False`` (``ValidationFailed``) with the errors and their positions,
and the last good revision stays applied.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import git

from reconciler.controller import ReconcileError, Result
from runink.api.keys import source_key
from runink.api.records import Condition, SourceRecord, now_iso
from runink.barn import BarnClient
from runink.compiler import Compiler, Plan, PlanDelta
from runink.findings import Finding
from runink.repo import RepoLoader, RepoSnapshot
from runink.repo.herd import Herd
from runink.repo.remote import Mirror, RemoteError

MAX_CONDITION_ERRORS = 20


@dataclass(frozen=True)
class SourceSpec:
    """A repository the controllers deploy from."""

    name: str
    path: Path
    branch: str | None = None  # None: runink.yaml's spec.branch, else the checked-out branch
    poll_interval: float = 30.0
    verify: str | None = None  # "signed": apply only commits the allowed signers signed
    allowed_signers: Path | None = None  # default: .runink/allowed_signers of the last good
    url: str | None = None  # a remote: fetched into the mirror at ``path`` before each read


@dataclass(frozen=True)
class Desired:
    """What one valid commit asks for: herds and Plans, tagged with the revision."""

    repo: str
    sha: str
    revision: str  # branch@sha1:<sha>
    herds: tuple[Herd, ...]
    plans: tuple[Plan, ...]
    snapshot: RepoSnapshot = field(repr=False, compare=False)
    delta: PlanDelta | None = field(default=None, repr=False, compare=False)
    """How ``plans`` differ from those of the commit ``delta.base`` (when known)."""


class DesiredStates:
    """The latest valid Desired of each repository, handed from source to apply."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Desired] = {}

    def get(self, repo: str) -> Desired | None:
        with self._lock:
            return self._latest.get(repo)

    def put(self, desired: Desired) -> None:
        with self._lock:
            self._latest[desired.repo] = desired


def condition(
    type_: str, status: str, reason: str, message: str, revision: str, since: Condition | None
) -> Condition:
    """A condition (status ``True``/``False``/``Unknown``); its transition time moves
    only when its status changes."""
    since_time = since.last_transition_time if since is not None else ""
    changed = since is None or since.status != status
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now_iso() if changed else since_time,
        observed_revision=revision,
    )


def read_source(barn: BarnClient, repo: str) -> tuple[SourceRecord, int]:
    """The source record and its mod_revision (0 when there is none yet)."""
    kv = barn.get(source_key(repo))
    if kv is None or not isinstance(kv.value, Mapping):
        return SourceRecord(repo=repo), 0
    return SourceRecord.from_dict(kv.value), kv.mod_revision


def ready_condition(record: SourceRecord) -> Condition | None:
    return next((c for c in record.conditions if c.type == "Ready"), None)


class SourceController:
    """Fetches, validates and compiles each repository's tracked branch."""

    name = "source"

    def __init__(
        self,
        barn: BarnClient,
        specs: Iterable[SourceSpec],
        desired: DesiredStates,
        on_valid: Callable[[str], None] = lambda repo: None,
    ) -> None:
        self.barn = barn
        self.specs = {s.name: s for s in specs}
        self.desired = desired
        self.on_valid = on_valid
        self._compilers: dict[str, Compiler] = {}
        self._loaders: dict[str, RepoLoader] = {}
        self._repos: dict[str, git.Repo] = {}
        self._seen: dict[str, str] = {}  # repo -> last sha fully handled (valid or not)

    def keys(self) -> Iterable[str]:
        return list(self.specs)

    def reconcile(self, key: str) -> Result:
        spec = self.specs.get(key)
        if spec is None:
            return Result()
        poll = Result(requeue_after=spec.poll_interval)
        if spec.url is not None:  # a remote: its tracked branch into the mirror first
            known = self.desired.get(key)
            settings = known.snapshot.settings if known is not None else None
            wanted = spec.branch or (settings.branch if settings is not None else None)
            try:
                Mirror(spec.url, spec.path).fetch_branch(wanted)
            except RemoteError as exc:
                self._seen.pop(key, None)  # fetched again, the same commit says Ready again
                return self._failed(key, "", "FetchFailed", str(exc))
        try:
            branch = self.branch(spec)
            sha = self._repo(spec).rev_parse(f"refs/heads/{branch}").hexsha
        except (git.GitError, ValueError, OSError) as exc:
            return self._failed(key, "", "FetchFailed", f"cannot read {spec.path}: {exc}")
        if self._seen.get(key) == sha:
            return poll
        revision = f"{branch}@sha1:{sha}"
        snapshot = self._loaders.setdefault(key, RepoLoader()).load(spec.path, sha)
        errors = list(snapshot.findings.errors)
        if not errors:
            unsigned = self._signature_problem(spec, sha, snapshot)
            if unsigned is not None:
                self._seen[key] = sha
                return self._failed(key, revision, "VerificationFailed", unsigned)
        compiler = self._compilers.setdefault(key, Compiler())
        result = compiler.compile(snapshot, revision=f"{branch}@sha1:{sha}")
        errors.extend(result.findings.errors)
        if errors:
            self._seen[key] = sha
            return self._failed(key, revision, "ValidationFailed", _describe(errors), errors)
        plans = result.plans  # each at the revision it last changed at
        herds = tuple(snapshot.herds)
        self.desired.put(Desired(key, sha, revision, herds, plans, snapshot, result.delta))
        self._record(key, revision, "Unknown", "Progressing", f"applying {revision}")
        self._seen[key] = sha
        self.on_valid(key)
        return poll

    def _repo(self, spec: SourceSpec) -> git.Repo:
        """One gitpython Repo per source: each holds `git cat-file` helpers open."""
        repo = self._repos.get(spec.name)
        if repo is None:
            repo = self._repos[spec.name] = git.Repo(spec.path)
        return repo

    def close(self) -> None:
        for repo in self._repos.values():
            repo.close()
        self._repos.clear()
        for loader in self._loaders.values():
            loader.close()

    def branch(self, spec: SourceSpec) -> str:
        if spec.branch:
            return spec.branch
        desired = self.desired.get(spec.name)
        if desired is not None and desired.snapshot.settings is not None:
            return desired.snapshot.settings.branch
        repo = self._repo(spec)
        try:
            return repo.active_branch.name if not repo.bare else _bare_head(repo)
        except TypeError:  # detached HEAD: the repository's default
            return "main"

    def _signature_problem(self, spec: SourceSpec, sha: str, snapshot: RepoSnapshot) -> str | None:
        """Why commit ``sha`` may not be applied under ``verify: signed``, or None."""
        last = self.desired.get(spec.name)
        trusted = last.snapshot.settings if last is not None else None
        base = trusted or snapshot.settings
        mode = spec.verify or (base.verify_mode if base is not None else "none")
        if mode != "signed":
            return None
        signers = spec.allowed_signers
        if signers is None:
            source = last.sha if last is not None else sha
            relative = base.allowed_signers if base is not None else None
            text = _show(spec.path, source, relative or ".runink/allowed_signers")
            if text is None:
                return "verify: signed, but there is no allowed signers file"
            return _verify(spec.path, sha, text)
        return _verify(spec.path, sha, signers.read_text())

    def _record(self, key: str, revision: str, status: str, reason: str, message: str) -> None:
        """Note the fetched revision and the Ready condition in /sources/<repo>."""
        record, _ = read_source(self.barn, key)
        ready = condition("Ready", status, reason, message, revision, ready_condition(record))
        others = tuple(c for c in record.conditions if c.type != "Ready")
        updated = SourceRecord(
            repo=key,
            fetched_revision=revision or record.fetched_revision,
            applied_revision=record.applied_revision,
            conditions=(ready, *others),
            updated_at=now_iso(),
            applied_at=record.applied_at,
        )
        if updated.to_dict() | {"updatedAt": ""} != record.to_dict() | {"updatedAt": ""}:
            self.barn.put(source_key(key), updated.to_dict())

    def _failed(
        self,
        key: str,
        revision: str,
        reason: str,
        message: str,
        findings: list[Finding] | None = None,
    ) -> Result:
        self._record(key, revision, "False", reason, message)
        return Result(
            requeue_after=self.specs[key].poll_interval,
            error=ReconcileError(reason, message, tuple(findings or ()), retry=False),
        )


def _describe(errors: list[Finding]) -> str:
    shown = [str(f) for f in sorted(errors, key=lambda f: f.sort_key())[:MAX_CONDITION_ERRORS]]
    more = len(errors) - len(shown)
    return "\n".join(shown + ([f"... and {more} more"] if more > 0 else []))


def _bare_head(repo: git.Repo) -> str:
    ref = repo.git.symbolic_ref("HEAD")
    return str(ref).removeprefix("refs/heads/")


def _show(path: Path, sha: str, relative: str) -> str | None:
    repo = git.Repo(path)
    try:
        blob = repo.commit(sha).tree / relative
        data: bytes = blob.data_stream.read()
    except (KeyError, ValueError, git.GitError):
        return None
    finally:
        repo.close()
    return data.decode("utf-8", "replace")


def _verify(path: Path, sha: str, allowed_signers: str) -> str | None:
    """None if ``sha`` carries a good SSH signature of an allowed signer, else why not."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".allowed_signers") as handle:
        handle.write(allowed_signers)
        handle.flush()
        done = subprocess.run(
            [
                "git",
                "-c",
                "gpg.format=ssh",
                "-c",
                f"gpg.ssh.allowedSignersFile={handle.name}",
                "verify-commit",
                sha,
            ],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=30,
        )
    if done.returncode == 0:
        return None
    detail = (done.stderr.strip().splitlines() or ["no signature"])[-1]
    return f"commit {sha[:12]} is not signed by an allowed signer: {detail}"
