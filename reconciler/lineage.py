"""The lineage controller: finished runs' events -> signed commits on the lineage branch.

Agents' run reports leave each run's events in ``/lineage/pending/<run_id>`` (written
in the same Barn transaction as the run record). ``reconcile(repo)`` takes the pending
runs of that repository's herds, at most ``max_batch`` at a time, waiting up to
``max_age`` seconds for a batch to fill, and lands them on the branch named by
``runink.yaml`` (``spec.lineage.branch``) with :class:`runink.lineage.LineageRepo`.

Exactly once: a pending entry is deleted only after the ref update succeeded, and every
reconcile first asks the branch which of its runs are already there (those are only
deleted). A server killed between the commit and the delete therefore neither loses
nor repeats a run: the next reconcile (a restart's first resync) finds the files.

A source reached by URL gets its lineage pushed: the remote's branch is fetched into
the source's mirror, the commit built on that tip and pushed without force; a push that
lost a race (someone else pushed first) is rebuilt on the new tip and tried again
(counted as ``conflict``). Entries are deleted only once the remote took the commit, and
runs found on the fetched branch are not committed again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.controller import ReconcileError, Result
from reconciler.lineage_signed import note_signing, signing_state
from reconciler.source import DesiredStates, SourceSpec
from runink.barn import BarnClient, Op
from runink.lineage import sigstore
from runink.lineage.schema import SchemaUnavailable
from runink.lineage.schema_pool import SchemaChecker
from runink.lineage.writer import (
    Appended,
    LineageConflict,
    LineageError,
    LineageRepo,
    PendingError,
    PendingRun,
    RemoteLineageRepo,
    Signing,
)
from runink.observability.metrics import LINEAGE_COMMIT_DURATION, LINEAGE_COMMITS
from runink.repo.settings import DEFAULT_LINEAGE_BRANCH

log = logging.getLogger("runink.reconciler.lineage")

PENDING_PREFIX = "/lineage/pending/"
_DELETE_CHUNK = 256


def pending_key(run_id: str) -> str:
    return PENDING_PREFIX + run_id


@dataclass(frozen=True)
class _Pending:
    key: str
    run: PendingRun


class LineageController:
    """Commits pending runs to each source repository's lineage branch."""

    name = "lineage"

    def __init__(
        self,
        barn: BarnClient,
        specs: Iterable[SourceSpec],
        desired: DesiredStates,
        *,
        signing_key: Path | None = None,
        max_batch: int = 500,
        max_age: float = 0.5,
        fill_check: float = 0.05,
    ) -> None:
        self.barn = barn
        self.specs = {s.name: s for s in specs}
        self.desired = desired
        self.signing_key = signing_key
        self.max_batch = max_batch
        self.max_age = max_age
        # While a batch fills, every finishing run's pending entry queues this controller;
        # reading the whole queue for each would take the CPU the reports need. It is
        # read at most once per ``fill_check`` seconds until the batch is due.
        self.fill_check = fill_check
        self._filling: dict[str, float] = {}  # source -> when the queue may be read again
        self._first_seen: dict[str, float] = {}
        self._rejected: dict[str, int] = {}  # key -> mod_revision found wanting
        self._checked: dict[str, tuple[int, PendingRun]] = {}  # key -> (mod_revision, run)
        self._lock = threading.Lock()
        self._schemas = SchemaChecker()
        self._schema_missing_logged = False

    def keys(self) -> Iterable[str]:
        return list(self.specs)

    def branches(self) -> set[str]:
        """The lineage branch of every source (what the refs watcher ignores)."""
        found = {DEFAULT_LINEAGE_BRANCH}
        for name in self.specs:
            desired = self.desired.get(name)
            if desired is not None and desired.snapshot.settings is not None:
                found.add(desired.snapshot.settings.lineage_branch)
        return found

    def reconcile(self, key: str) -> Result:
        spec = self.specs.get(key)
        if spec is None:
            return Result()
        with self._lock:  # one batch at a time per controller: batches never overlap
            return self._reconcile(spec)

    def _reconcile(self, spec: SourceSpec) -> Result:
        wait = self._filling.get(spec.name, 0.0) - time.monotonic()
        if wait > 0:
            return Result(requeue_after=wait)
        desired = self.desired.get(spec.name)
        if desired is None or desired.snapshot.settings is None:
            # Which branch and which signing policy is runink.yaml's to say: wait for it.
            return Result(requeue_after=1.0) if self._has_pending() else Result()
        settings = desired.snapshot.settings
        unavailable = None  # probing for an OIDC identity may cost a request: only with work
        if settings.lineage_signing == "sigstore" and self._has_pending():
            unavailable = sigstore.signing_unavailable() or ""
        state = signing_state(settings.lineage_signing, self.signing_key, unavailable)
        note_signing(self.barn, spec.name, state)
        if unavailable:  # no identity here: nothing can be signed, so nothing is committed
            return Result(
                requeue_after=60.0,
                error=ReconcileError("SigningUnavailable", unavailable, retry=False),
            )
        herds = {h.name for h in desired.herds}
        pending = self._pending(herds if len(self.specs) > 1 else None)
        if not pending:
            return Result()
        now = time.monotonic()
        waited = now - min(self._first_seen.setdefault(p.key, now) for p in pending)
        if len(pending) < self.max_batch and waited < self.max_age:
            self._filling[spec.name] = now + self.fill_check
            return Result(requeue_after=min(self.max_age - waited, self.fill_check))
        batch = pending[: self.max_batch]
        signing = Signing(settings.lineage_signing, self.signing_key)
        repo = (
            RemoteLineageRepo(spec.path, settings.lineage_branch, spec.url)
            if spec.url is not None
            else LineageRepo(spec.path, settings.lineage_branch)
        )
        started = time.perf_counter()
        try:
            appended = repo.append([p.run for p in batch], signing)
        except LineageConflict as exc:  # others kept winning the race: the queue's backoff
            LINEAGE_COMMITS.labels("conflict").inc(exc.conflicts)
            return Result(error=ReconcileError("CommitConflict", str(exc)))
        except LineageError as exc:
            LINEAGE_COMMITS.labels("failed").inc()
            return Result(error=ReconcileError("CommitFailed", str(exc)))
        LINEAGE_COMMIT_DURATION.observe(time.perf_counter() - started)
        LINEAGE_COMMITS.labels("conflict").inc(appended.conflicts)
        LINEAGE_COMMITS.labels("committed").inc(len(appended.commits))
        self.after_commit(appended)
        self._forget([p.key for p in batch])
        log.info(
            "lineage: %d run(s) committed to %s in %d commit(s) (%d already there)",
            len(batch) - len(appended.already),
            settings.lineage_branch,
            len(appended.commits),
            len(appended.already),
        )
        more = len(pending) > len(batch)
        return Result(requeue_after=0.0) if more else Result()

    def close(self) -> None:
        """End the schema worker (the server is stopping)."""
        self._schemas.close()

    def after_commit(self, appended: Appended) -> None:
        """Called between the ref update (or push) and the deletes (a seam for crash tests)."""

    # -- Barn ----------------------------------------------------------------------

    def _has_pending(self) -> bool:
        return bool(self.barn.range(PENDING_PREFIX, limit=1).kvs)

    def _pending(self, herds: set[str] | None) -> list[_Pending]:
        """Valid pending runs (of ``herds``, when given), oldest first."""
        found: list[_Pending] = []
        fresh: list[tuple[str, int, PendingRun]] = []
        # A local read: the branch, not the queue, is what makes a commit exactly-once.
        for kv in self.barn.range(PENDING_PREFIX, serializable=True).kvs:
            if self._rejected.get(kv.key) == kv.mod_revision:
                continue
            checked = self._checked.get(kv.key)
            if checked is not None and checked[0] == kv.mod_revision:
                if herds is None or checked[1].herd in herds:
                    found.append(_Pending(kv.key, checked[1]))
                continue
            try:
                run = PendingRun.from_value(kv.value)
            except PendingError as exc:
                self._reject(kv.key, kv.mod_revision, str(exc))
                continue
            problems = run.problems()
            if problems:
                self._reject(kv.key, kv.mod_revision, "; ".join(problems[:3]))
                continue
            fresh.append((kv.key, kv.mod_revision, run))
        schema = self._schema_problems([run for _, _, run in fresh])
        for (key, mod_revision, run), problems in zip(fresh, schema, strict=True):
            if problems:
                self._reject(key, mod_revision, "; ".join(problems[:3]))
                continue
            # Checked once: a batch that waits to fill reads the queue again and again.
            run = run.compact()
            self._checked[key] = (mod_revision, run)
            if herds is None or run.herd in herds:
                found.append(_Pending(key, run))
        found.sort(key=lambda p: (self._first_seen.get(p.key, float("inf")), p.run.ended_at))
        return found

    def _schema_problems(self, runs: list[PendingRun]) -> list[list[str]]:
        """Per run, what breaks the OpenLineage schema: checked in a low-priority process."""
        try:
            return self._schemas.check_runs([run.events for run in runs])
        except SchemaUnavailable as exc:
            if not self._schema_missing_logged:
                log.warning("lineage: events are committed unchecked: %s", exc)
                self._schema_missing_logged = True
            return [[] for _ in runs]

    def _reject(self, key: str, mod_revision: int, why: str) -> None:
        """Keep an entry that cannot be committed pending (the age alert shows it), once."""
        self._rejected[key] = mod_revision
        log.error("lineage: %s cannot be committed and stays pending: %s", key, why)

    def _forget(self, keys: list[str]) -> None:
        for start in range(0, len(keys), _DELETE_CHUNK):
            chunk = keys[start : start + _DELETE_CHUNK]
            self.barn.txn([], [Op.delete(k) for k in chunk])
        for key in keys:
            self._first_seen.pop(key, None)
            self._checked.pop(key, None)
