"""Reading the lineage branch of a clone, offline, with git alone (log, show, verify).

One ``git log`` lists the commits with their signature status (checked against an
allowed-signers file when one is given), trailers and the files each changes from its
first parent; one ``git cat-file --batch`` reads the files. Nothing is written.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
import yaml

from runink.findings import Finding, Position, RuninkError
from runink.lineage.writer import (
    LINEAGE_ROOT,
    PIPELINE_TRAILER,
    REVISION_TRAILER,
    RUN_ID_TRAILER,
    TERMINAL_EVENTS,
)
from runink.repo.settings import DEFAULT_LINEAGE_BRANCH

_RECORD: Final = "\x1e"
_FIELD: Final = "\x1f"
_LIST: Final = "\x1d"
_FORMAT: Final = _FIELD.join(
    (
        f"{_RECORD}%H",
        "%P",
        "%G?",
        "%GS",
        "%GK",
        "%cI",
        "%s",
        *(
            f"%(trailers:key={k},valueonly,separator=%x1d)"
            for k in (RUN_ID_TRAILER, REVISION_TRAILER, PIPELINE_TRAILER)
        ),
    )
)
RUN_FILE: Final = re.compile(
    rf"^{LINEAGE_ROOT}/(?P<pipeline>[^/]+/[^/]+/[^/]+)/(?P<run_id>[A-Za-z0-9][A-Za-z0-9._-]*)\.json$"
)


@dataclass(frozen=True)
class Change:
    """A file a commit adds (``A``), modifies (``M``) or deletes (``D``)."""

    status: str
    path: str


@dataclass(frozen=True)
class LineageCommit:
    """One commit of the lineage branch, as ``git log`` describes it."""

    sha: str
    parents: tuple[str, ...]
    signature: str  # git's %G?: G good and allowed, U key not allowed, N none, B bad...
    signer: str  # the allowed signer's principal, else the key's fingerprint
    time: str
    subject: str
    run_ids: tuple[str, ...]
    revisions: tuple[str, ...]
    pipelines: tuple[str, ...]
    changes: tuple[Change, ...] = field(default=())


@dataclass(frozen=True)
class Clone:
    """Where a clone keeps lineage: its branch and the allowed-signers file for it."""

    path: Path
    ref: str
    allowed_signers: str | None  # the file's text (git's allowed-signers format)


def open_clone(path: Path, branch: str | None = None, allowed_signers: Path | None = None) -> Clone:
    """Find the lineage branch (local, else ``origin/``) and the allowed signers.

    Both default to what ``runink.yaml`` at ``HEAD`` says (``spec.lineage.branch``,
    ``spec.allowedSigners``, read from the commit, not the work tree).
    """
    settings = _settings(path)
    branch = branch or str((settings.get("lineage") or {}).get("branch") or DEFAULT_LINEAGE_BRANCH)
    ref = next(
        (
            r
            for r in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}")
            if _git(path, "rev-parse", "--verify", "-q", r, check=False).returncode == 0
        ),
        None,
    )
    if ref is None:
        raise RuninkError(
            [
                Finding(
                    "lineage.no-branch",
                    f"{path} has no branch {branch} (nor origin/{branch})",
                    Position(str(path / "runink.yaml")),
                    "spec.lineage.branch",
                    f"fetch it first: git fetch origin {branch}:{branch}",
                )
            ]
        )
    if allowed_signers is not None:
        try:
            text: str | None = allowed_signers.read_text()
        except OSError as exc:
            raise _error(path, f"cannot read allowed signers {allowed_signers}: {exc}") from None
    elif settings.get("allowedSigners"):
        text = _committed_file(path, str(settings["allowedSigners"]))
    else:
        text = None
    return Clone(path, ref, text)


def read_commits(clone: Clone, since: str | None = None) -> list[LineageCommit]:
    """The branch's commits after ``since`` (all when None), oldest first."""
    span = f"{since}..{clone.ref}" if since else clone.ref
    with tempfile.NamedTemporaryFile("w", suffix=".allowed_signers") as signers:
        signers.write(clone.allowed_signers or "")
        signers.flush()
        out = _git(
            clone.path,
            "-c",
            f"gpg.ssh.allowedSignersFile={signers.name}",
            "log",
            "--reverse",
            "--first-parent",
            "-m",
            "--no-renames",
            "--name-status",
            f"--format={_FORMAT}",
            span,
            "--",
        ).stdout
    commits = []
    for record in out.split(_RECORD)[1:]:
        head, _, rest = record.partition("\n")
        fields = head.split(_FIELD)
        sha, parents, signature, principal, key, time, subject = fields[:7]
        run_ids, revisions, pipelines = (_values(f) for f in fields[7:10])
        changes = tuple(
            Change(status[:1], path)
            for line in rest.splitlines()
            if line.strip()
            for status, _, path in [line.partition("\t")]
        )
        commits.append(
            LineageCommit(
                sha=sha,
                parents=tuple(parents.split()),
                signature=signature,
                signer=principal or key,
                time=time,
                subject=subject,
                run_ids=run_ids,
                revisions=revisions,
                pipelines=pipelines,
                changes=changes,
            )
        )
    return commits


def read_blobs(path: Path, names: Sequence[str]) -> dict[str, bytes | None]:
    """``<commit>:<path>`` object names -> their bytes (None where missing), one process."""
    if not names:
        return {}
    request = "".join(f"{n}\n" for n in names).encode()
    done = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=path,
        input=request,
        capture_output=True,
        timeout=300,
        check=False,
    )
    out, at = done.stdout, 0
    found: dict[str, bytes | None] = {}
    for name in names:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if len(header) != 3:
            found[name] = None
            continue
        size = int(header[2])
        found[name] = out[at : at + size]
        at += size + 1
    return found


def parse_run_file(data: bytes | None) -> list[dict[str, Any]] | None:
    """A run file's events, None if it is not a JSON list of objects."""
    if data is None:
        return None
    try:
        events = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return None
    return events


def added_runs(commit: LineageCommit) -> dict[str, str]:
    """Run id -> path of each run file ``commit`` adds."""
    return {
        m["run_id"]: c.path
        for c in commit.changes
        if c.status == "A" and (m := RUN_FILE.match(c.path)) is not None
    }


def _values(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(_LIST) if v.strip())


def _settings(path: Path) -> Mapping[str, Any]:
    text = _git(path, "show", "HEAD:runink.yaml", check=False).stdout
    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return {}
    spec = data.get("spec") if isinstance(data, Mapping) else None
    return spec if isinstance(spec, Mapping) else {}


def _committed_file(path: Path, relative: str) -> str | None:
    """The allowed-signers file as committed at HEAD (what everyone agreed to trust)."""
    done = _git(path, "show", f"HEAD:{relative}", check=False)
    return done.stdout if done.returncode == 0 else None


def _git(path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            ["git", *args], cwd=path, capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _error(path, f"cannot run git: {exc}") from None
    if check and done.returncode != 0:
        raise _error(path, done.stderr.strip() or f"git {args[0]} failed")
    return done


def _error(path: Path, message: str) -> RuninkError:
    return RuninkError(
        [Finding("lineage.git", message, Position(str(path)), hint="run inside a clone")]
    )


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class RunEntry:
    """One committed run, as ``runi lineage log`` lists it."""

    run_id: str
    pipeline: str
    outcome: str  # the terminal event's type: COMPLETE, FAIL, ABORT (or "?" if none)
    time: str  # the terminal event's time (else the latest)
    records_in: int | None
    records_out: int | None
    records_dlq: int | None
    revision: str
    commit: str
    signer: str
    signature: str
    path: str
    datasets: tuple[str, ...]
    events: tuple[dict[str, Any], ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "outcome": self.outcome,
            "time": self.time,
            "records": {"in": self.records_in, "out": self.records_out, "dlq": self.records_dlq},
            "revision": self.revision,
            "commit": self.commit,
            "signer": self.signer,
            "signed": self.signature == "G",
            "path": self.path,
            "datasets": list(self.datasets),
        }


def run_entries(clone: Clone) -> list[RunEntry]:
    """Every run on the branch, newest first."""
    commits = read_commits(clone)
    wanted = [(c, run_id, path) for c in commits for run_id, path in added_runs(c).items()]
    blobs = read_blobs(clone.path, [f"{c.sha}:{p}" for c, _, p in wanted])
    entries = []
    for commit, run_id, path in wanted:
        events = parse_run_file(blobs.get(f"{commit.sha}:{path}")) or []
        entries.append(_entry(commit, run_id, path, events))
    entries.sort(key=lambda e: (e.time, e.run_id), reverse=True)
    return entries


def dataset_uri(dataset: Mapping[str, Any]) -> str:
    """``<namespace>/<name>``: how lineage tools print a dataset."""
    return f"{dataset.get('namespace', '')}/{dataset.get('name', '')}"


def _entry(commit: LineageCommit, run_id: str, path: str, events: list[dict[str, Any]]) -> RunEntry:
    end = next((e for e in events if e.get("eventType") in TERMINAL_EVENTS), None)
    last = end or (events[-1] if events else {})
    job = last.get("job") or {}
    inputs = list(last.get("inputs") or ())
    outputs = list(last.get("outputs") or ())
    read = [
        c["rowCount"]
        for d in inputs
        if isinstance(c := (d.get("inputFacets") or {}).get("dataQualityMetrics"), dict)
        and isinstance(c.get("rowCount"), int)
    ]
    written = [
        c["rowCount"]
        for d in outputs
        if isinstance(c := (d.get("outputFacets") or {}).get("outputStatistics"), dict)
        and isinstance(c.get("rowCount"), int)
    ]
    # Records a contract check rejected went to the DLQ: the assertions count them.
    checks = [
        a
        for d in inputs
        for a in ((d.get("inputFacets") or {}).get("dataQualityAssertions") or {}).get(
            "assertions", ()
        )
        if isinstance(a, dict)
    ]
    dlq = [int(a["actual"]) for a in checks if str(a.get("actual", "")).isdigit()]
    match = RUN_FILE.match(path)
    return RunEntry(
        run_id=run_id,
        pipeline=str(job.get("name") or (match["pipeline"] if match else "")),
        outcome=str(end.get("eventType")) if end else "?",
        time=str(last.get("eventTime", commit.time)),
        records_in=sum(read) if read else None,
        records_out=sum(written) if written else None,
        records_dlq=sum(dlq) if checks else None,
        revision=commit.revisions[0] if len(commit.revisions) == 1 else ",".join(commit.revisions),
        commit=commit.sha,
        signer=commit.signer,
        signature=commit.signature,
        path=path,
        datasets=tuple(dataset_uri(d) for d in (*inputs, *outputs)),
        events=tuple(events),
    )
