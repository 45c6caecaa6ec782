"""``runi lineage verify``: is every commit of the lineage branch what Runink wrote?

Each commit must be signed by an allowed signer (or, keyless, carry a Sigstore bundle
that signs the manifest of what it adds and verifies offline for the trusted identity),
only add run files (lineage is append-only: a modified or deleted file was edited by
hand), carry one
``Runink-Run-Id`` trailer per file it adds and no other, and each file must hold one
run's events (one START, exactly one terminal event, one runId) as canonical JSON
that the official OpenLineage schema accepts. A run may be committed only once.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Final

from runink.lineage import sigstore
from runink.lineage.history import (
    RUN_FILE,
    Clone,
    LineageCommit,
    added_runs,
    parse_run_file,
    read_blobs,
    read_commits,
)
from runink.lineage.schema import EventSchema, SchemaUnavailable, event_schema
from runink.lineage.sigstore import SigstoreError, SigstorePolicy
from runink.lineage.writer import (
    PIPELINE_TRAILER,
    REVISION_TRAILER,
    RUN_ID_TRAILER,
    canonical,
    event_order,
    run_problems,
)

_SIGNATURE: Final = {
    "N": "is not signed",
    "U": "is signed by a key that is not in the allowed signers",
    "B": "has a bad signature (it was changed after it was signed)",
    "E": "has a signature that cannot be checked",
    "X": "has an expired signature",
    "Y": "is signed by an expired key",
    "R": "is signed by a revoked key",
}
_MAX_SCHEMA_PROBLEMS = 3


@dataclass(frozen=True)
class Problem:
    """What is wrong with one commit (``path``: the file concerned, if any)."""

    commit: str
    message: str
    path: str = ""

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"commit {self.commit}:{where} {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"commit": self.commit, "path": self.path, "message": self.message}


@dataclass(frozen=True)
class Verified:
    """The commits checked, the runs they hold, and every problem found."""

    commits: int
    runs: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    clone: Clone,
    since: str | None = None,
    schema: EventSchema | None = None,
    policy: SigstorePolicy | None = None,
) -> Verified:
    """Check every commit of the clone's lineage branch after ``since`` (all when None).

    ``policy``: whose Sigstore bundles are trusted (default: runink.yaml at HEAD).
    """
    try:
        schema = schema or event_schema()
    except SchemaUnavailable as exc:
        raise_schema = str(exc)
        schema = None
    else:
        raise_schema = ""
    policy = policy or sigstore.policy_at_head(clone.path)
    commits = read_commits(clone, since)
    names = [f"{c.sha}:{p}" for c in commits for p in (*added_runs(c).values(), *_bundles(c))]
    blobs = read_blobs(clone.path, names)
    object_format = _object_format(clone)
    problems: list[Problem] = []
    if raise_schema:
        problems.append(Problem("-", f"cannot check events against the schema: {raise_schema}"))
    if clone.allowed_signers is None and any(not _bundles(c) for c in commits):
        problems.append(
            Problem("-", "no allowed signers: runink.yaml names none (spec.allowedSigners)")
        )
    seen: dict[str, str] = {}
    runs = 0
    for commit in commits:
        files = added_runs(commit)
        if _bundles(commit) or (policy.signing == "sigstore" and commit.signature != "G"):
            problems += _sigstore(commit, files, blobs, policy, object_format)
        else:
            problems += _signature(commit)
        problems += _changes(commit)
        problems += _trailers(commit, files)
        for run_id, path in files.items():
            runs += 1
            if run_id in seen:
                problems.append(
                    Problem(
                        commit.sha, f"run {run_id} was already committed in {seen[run_id]}", path
                    )
                )
            seen.setdefault(run_id, commit.sha)
            problems += _file(commit.sha, path, run_id, blobs.get(f"{commit.sha}:{path}"), schema)
    return Verified(len(commits), runs, tuple(problems))


def signed_manifest(
    commit: LineageCommit,
    files: dict[str, str],
    blobs: dict[str, bytes | None],
    object_format: str = "sha1",
) -> bytes:
    """The manifest a Sigstore commit's bundle must sign: its run files and trailers."""
    entries = {}
    for path in files.values():
        data = blobs.get(f"{commit.sha}:{path}") or b""
        entries[path] = sigstore.file_entry(sigstore.git_blob_id(data, object_format), data)
    trailers = {
        RUN_ID_TRAILER: commit.run_ids,
        REVISION_TRAILER: commit.revisions,
        PIPELINE_TRAILER: commit.pipelines,
    }
    return sigstore.manifest(entries, trailers)


def _sigstore(
    commit: LineageCommit,
    files: dict[str, str],
    blobs: dict[str, bytes | None],
    policy: SigstorePolicy,
    object_format: str,
) -> list[Problem]:
    signed = signed_manifest(commit, files, blobs, object_format)
    expected = sigstore.bundle_path(signed)
    found = _bundles(commit)
    if not found:
        return [
            Problem(
                commit.sha,
                f"has no Sigstore bundle (spec.lineage.signing is sigstore): expected {expected}"
                " signing the files and trailers it adds",
            )
        ]
    if len(found) > 1:
        return [Problem(commit.sha, f"adds {len(found)} Sigstore bundles; a commit carries one")]
    if found[0] != expected:
        return [
            Problem(
                commit.sha,
                "its Sigstore bundle does not sign the files and trailers this commit adds "
                f"(those would be signed by {expected}): files or trailers were changed",
                found[0],
            )
        ]
    bundle = blobs.get(f"{commit.sha}:{expected}") or b""
    try:
        wrong = sigstore.verify_bundle(signed, bundle, policy)
    except SigstoreError as exc:
        wrong = f"cannot be checked: {exc}"
    return [] if wrong is None else [Problem(commit.sha, wrong, expected)]


def _bundles(commit: LineageCommit) -> list[str]:
    return [
        c.path
        for c in commit.changes
        if c.status == "A" and sigstore.BUNDLE_FILE.match(c.path) is not None
    ]


def _object_format(clone: Clone) -> str:
    """``sha1`` or ``sha256``: how the clone names its objects (blob ids in manifests)."""
    done = subprocess.run(
        ["git", "rev-parse", "--show-object-format"],
        cwd=clone.path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = done.stdout.strip()
    return found if found in ("sha1", "sha256") else "sha1"


def _signature(commit: LineageCommit) -> list[Problem]:
    if commit.signature == "G":
        return []
    what = _SIGNATURE.get(commit.signature, f"has signature status {commit.signature!r}")
    key = f" ({commit.signer})" if commit.signer else ""
    return [Problem(commit.sha, f"{what}{key}")]


def _changes(commit: LineageCommit) -> list[Problem]:
    found = []
    for change in commit.changes:
        if change.status != "A":
            verb = {"M": "modifies", "D": "deletes"}.get(change.status, "changes")
            found.append(
                Problem(
                    commit.sha,
                    f"{verb} a run file committed earlier: lineage is append-only "
                    "(edited by hand?)",
                    change.path,
                )
            )
        elif RUN_FILE.match(change.path) is None and not sigstore.BUNDLE_FILE.match(change.path):
            found.append(
                Problem(
                    commit.sha,
                    "adds a file that is not lineage/<herd>/<feature>/<scenario>/<run_id>.json",
                    change.path,
                )
            )
    if not commit.changes:
        found.append(Problem(commit.sha, "is empty: it adds no run"))
    return found


def _trailers(commit: LineageCommit, files: dict[str, str]) -> list[Problem]:
    found = []
    for run_id in sorted(set(commit.run_ids) - set(files)):
        found.append(Problem(commit.sha, f"trailer {RUN_ID_TRAILER}: {run_id} has no file"))
    for run_id in sorted(set(files) - set(commit.run_ids)):
        found.append(
            Problem(
                commit.sha, f"adds run {run_id} without a {RUN_ID_TRAILER} trailer", files[run_id]
            )
        )
    if len(commit.run_ids) != len(set(commit.run_ids)):
        found.append(Problem(commit.sha, f"repeats a {RUN_ID_TRAILER} trailer"))
    return found


def _file(
    sha: str, path: str, run_id: str, data: bytes | None, schema: EventSchema | None
) -> list[Problem]:
    events = parse_run_file(data)
    if events is None:
        return [Problem(sha, "is not a JSON list of events", path)]
    found = [Problem(sha, p, path) for p in run_problems(events, run_id)]
    if data != canonical(sorted(events, key=event_order)):
        found.append(
            Problem(sha, "is not the canonical JSON Runink writes (edited by hand?)", path)
        )
    if schema is not None:
        for number, event in enumerate(events, start=1):
            broken = schema.problems(event)
            if broken:
                shown = "; ".join(broken[:_MAX_SCHEMA_PROBLEMS])
                kind = event.get("eventType", "?")
                found.append(
                    Problem(
                        sha, f"event {number} ({kind}) breaks the OpenLineage schema: {shown}", path
                    )
                )
    return found
