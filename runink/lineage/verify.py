"""``runi lineage verify``: is every commit of the lineage branch what Runink wrote?

Each commit must be signed by an allowed signer, only add run files (lineage is
append-only: a modified or deleted file was edited by hand), carry one
``Runink-Run-Id`` trailer per file it adds and no other, and each file must hold one
run's events (one START, exactly one terminal event, one runId) as canonical JSON
that the official OpenLineage schema accepts. A run may be committed only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

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
from runink.lineage.writer import RUN_ID_TRAILER, canonical, event_order, run_problems

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


def verify(clone: Clone, since: str | None = None, schema: EventSchema | None = None) -> Verified:
    """Check every commit of the clone's lineage branch after ``since`` (all when None)."""
    try:
        schema = schema or event_schema()
    except SchemaUnavailable as exc:
        raise_schema = str(exc)
        schema = None
    else:
        raise_schema = ""
    commits = read_commits(clone, since)
    names = [f"{c.sha}:{p}" for c in commits for p in added_runs(c).values()]
    blobs = read_blobs(clone.path, names)
    problems: list[Problem] = []
    if raise_schema:
        problems.append(Problem("-", f"cannot check events against the schema: {raise_schema}"))
    if clone.allowed_signers is None:
        problems.append(
            Problem("-", "no allowed signers: runink.yaml names none (spec.allowedSigners)")
        )
    seen: dict[str, str] = {}
    runs = 0
    for commit in commits:
        problems += _signature(commit)
        problems += _changes(commit)
        files = added_runs(commit)
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
        elif RUN_FILE.match(change.path) is None:
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
