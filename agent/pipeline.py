"""One assigned pipeline on this node: decides when it runs, runs it, reports it.

A :class:`PipelineWorker` owns one thread. It is told the desired assignment
(revision and Plan) and converges on it, level-triggered: a ``once`` pipeline runs
once per revision (a succeeded run recorded for the revision, by this agent or an
earlier one, counts), a ``schedule`` pipeline on each cron tick, a ``stream``
pipeline always (restarted when it ends). A failed run is restarted after an
exponential backoff. A run marker on disk tells a restarted agent that a run was
interrupted by its death: that run is reported failed and started once again.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from croniter import croniter

from agent.checkout import Checkout
from agent.isolation import OOM_KILLED
from agent.spawning import RunSpawner
from runink.api.records import RunRecord, SliceState, StepRecord, now_iso
from runink.compiler import Plan
from runink.runtime.executor import Executor, RunResult, SliceStatus
from runink.runtime.ids import uuid7

logger = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the agent stopped while the run was in progress"


@dataclass(frozen=True)
class Desired:
    """What the scheduler assigned: the pipeline at a revision, and its Plan."""

    herd: str
    pipeline: str
    revision: str
    plan: Plan
    suspended: bool = False  # the herd is suspended: start nothing, restart nothing


class Reporter(Protocol):
    """Where a worker sends what it sees (the agent's API client, metrics)."""

    def slices(self, desired: Desired, slices: list[SliceState]) -> None: ...

    def run(self, record: RunRecord, restarted: bool, events: str = "") -> None:
        """Report a finished run; ``events`` is its OpenLineage events as a JSON array."""
        ...

    def succeeded_revisions(self, herd: str, pipeline: str) -> tuple[set[str], str]:
        """Revisions with a succeeded run, and the start time of the latest run."""
        ...

    def checkpoint(self, herd: str, pipeline: str) -> dict[str, int]:
        """A stream's last committed source offsets ({} when none)."""
        ...

    def save_checkpoint(self, herd: str, pipeline: str, offsets: Mapping[str, int]) -> None:
        """Keep a stream's committed source offsets (in Barn, through the API)."""
        ...


def run_record(result: RunResult, node: str, outcome: str, problems: tuple[str, ...]) -> RunRecord:
    """The RunRecord of a finished run (counts per step, totals, outcome)."""
    return RunRecord(
        run_id=result.run_id,
        herd=result.herd,
        pipeline=result.pipeline,
        outcome=outcome,
        started_at=result.started_at,
        ended_at=result.ended_at,
        revision=result.revision or "",
        node=node,
        totals=dict(result.totals),
        steps=tuple(
            StepRecord(
                id=s.id,
                kind=s.kind,
                name=s.name,
                state=s.state,
                counts=dict(s.counts),
                exit_code=s.exit_code,
                error=s.error or "",
            )
            for s in result.slices
        ),
        problems=problems,
    )


class PipelineWorker:
    """Converges one pipeline of this node on its desired assignment."""

    def __init__(
        self,
        desired: Desired,
        *,
        node: str,
        checkout: Callable[[str], Checkout],
        prepare: Callable[[Checkout, str], Path],
        spawner: Callable[[], RunSpawner],
        reporter: Reporter,
        state_dir: Path,
        backoff: tuple[float, float],
    ) -> None:
        self.node = node
        self._desired = desired
        self._checkout = checkout
        self._prepare = prepare
        self._spawner = spawner
        self._reporter = reporter
        self._marker = state_dir / desired.herd / f"{desired.pipeline.split('/', 1)[1]}.json"
        self._backoff = backoff
        self._cond = threading.Condition()
        self._stopping = False
        self._executor: Executor | None = None
        self._running_revision = ""
        self.failures = 0
        self.restarts = 0
        self.slices: dict[str, SliceStatus] = {}
        self._last_report: list[tuple[str, str, int]] = []
        self._thread = threading.Thread(
            target=self._main, name=f"runink-agent {desired.pipeline}", daemon=True
        )

    @property
    def desired(self) -> Desired:
        return self._desired

    def start(self) -> PipelineWorker:
        self._thread.start()
        return self

    def update(self, desired: Desired) -> None:
        """A new desired state; a run of another revision is stopped."""
        with self._cond:
            if desired == self._desired:
                return
            self._desired = desired
            if self._executor is not None and self._running_revision != desired.revision:
                self._executor.stop()
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop the current run cleanly and end the worker (does not wait)."""
        with self._cond:
            self._stopping = True
            if self._executor is not None:
                self._executor.stop()
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # --- the loop --------------------------------------------------------------------

    def _wait(self, seconds: float | None, revision: str) -> bool:
        """Sleep up to ``seconds`` (None: until told); False once stopping or changed."""
        deadline = None if seconds is None else time.monotonic() + seconds
        with self._cond:
            while not self._stopping and self._desired.revision == revision:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return True
                self._cond.wait(remaining)
            return False

    def _wait_change(self, desired: Desired) -> None:
        """Sleep until the desired state changes (e.g. a suspend is lifted) or stopping."""
        with self._cond:
            while not self._stopping and self._desired == desired:
                self._cond.wait()

    def _main(self) -> None:
        try:
            self._converge()
        except Exception:
            logger.exception("pipeline %s: worker failed", self._desired.pipeline)

    def _converge(self) -> None:
        done, last_start = self._history()
        self._recover_interrupted()
        revision = ""
        while True:
            with self._cond:
                if self._stopping:
                    return
                desired = self._desired
            if desired.revision != revision:
                revision = desired.revision
                self.failures = self.restarts = 0
            kind = desired.plan.trigger.kind
            if desired.suspended:
                self._report_idle(desired, "suspended", "the herd is suspended")
                self._wait_change(desired)
                continue
            if kind != "schedule" and revision in done:
                self._report_idle(desired, "succeeded")
                self._wait(None, revision)
                continue
            if self.failures:
                delay = min(self._backoff[0] * 2 ** (self.failures - 1), self._backoff[1])
                if not self._wait(delay, revision):
                    continue
            elif kind == "schedule" and desired.plan.trigger.cron:
                base = _parse_time(last_start) or time.time()
                tick = croniter(desired.plan.trigger.cron, base).get_next(float)
                if tick > time.time():  # taken: the revision waits for its next tick
                    at = datetime.fromtimestamp(tick, UTC).isoformat(timespec="seconds")
                    self._report_idle(desired, "scheduled", f"next run at {at}")
                if not self._wait(max(tick - time.time(), 0.0), revision):
                    continue
            record = self._run_once(desired)
            if record is None:
                continue
            last_start = record.started_at
            if record.outcome == "succeeded":
                # A stream whose source ended (a file, not a directory) is done too.
                self.failures = 0
                if kind != "schedule":
                    done.add(revision)
            elif record.outcome == "cancelled":
                pass
            else:
                self.failures += 1
                self.restarts += 1

    def _history(self) -> tuple[set[str], str]:
        while True:
            try:
                return self._reporter.succeeded_revisions(
                    self._desired.herd, self._desired.pipeline
                )
            except Exception as exc:  # the server may be briefly away; runs must not repeat
                logger.warning("pipeline %s: cannot read its runs: %s", self._desired.pipeline, exc)
                if not self._wait(1.0, self._desired.revision) and self._stopping:
                    return set(), ""

    def _recover_interrupted(self) -> None:
        """Report the run a dead agent left behind as failed; it then runs once again."""
        try:
            marker = orjson.loads(self._marker.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return
        record = RunRecord(
            run_id=str(marker.get("run_id") or uuid7()),
            herd=self._desired.herd,
            pipeline=self._desired.pipeline,
            outcome="failed",
            started_at=str(marker.get("started_at", "")),
            ended_at=now_iso(),
            revision=str(marker.get("revision", "")),
            node=self.node,
            problems=(INTERRUPTED,),
        )
        with contextlib.suppress(Exception):
            self._reporter.run(record, restarted=False)
        self._marker.unlink(missing_ok=True)

    def _run_once(self, desired: Desired) -> RunRecord | None:
        try:
            checkout = self._checkout(desired.revision)
            data_dir = self._prepare(checkout, desired.herd)
        except Exception as exc:
            logger.warning("pipeline %s: cannot prepare: %s", desired.pipeline, exc)
            self.failures += 1
            self._report_idle(desired, "failed", str(exc))
            return None
        executor = Executor(self._spawner())
        with self._cond:
            if self._stopping or self._desired != desired:
                return None
            self._executor = executor
            self._running_revision = desired.revision
        started = now_iso()
        self._marker.parent.mkdir(parents=True, exist_ok=True)
        self._marker.write_bytes(
            orjson.dumps({"revision": desired.revision, "started_at": started, "run_id": uuid7()})
        )
        self.slices = {}
        self._last_report = []
        plan = replace(desired.plan, revision=desired.revision)
        stream = plan.trigger.kind == "stream"
        try:
            resume = self._reporter.checkpoint(desired.herd, desired.pipeline) if stream else {}
            result = executor.run(
                plan,
                contracts=checkout.contracts,
                repo_dir=checkout.path,
                data_dir=data_dir,
                run_dir=data_dir,
                records_dir=data_dir / ".runink" / "runs",  # herd dir shared by runs
                on_progress=lambda statuses: self._progress(desired, statuses),
                repository=checkout.snapshot.settings.name if checkout.snapshot.settings else None,
                resume=resume,
                on_checkpoint=(lambda o: self._checkpoint(desired, o)) if stream else None,
            )
        except Exception as exc:
            logger.exception("pipeline %s: run failed to start", desired.pipeline)
            self._marker.unlink(missing_ok=True)
            with self._cond:
                self._executor = None
            self.failures += 1
            self._report_idle(desired, "failed", str(exc))
            return None
        with self._cond:
            self._executor = None
            stopped = self._stopping or self._desired.revision != desired.revision
        shutil.rmtree(data_dir / ".runink" / "runs" / result.run_id / ".runink", ignore_errors=True)
        outcome, problems = result.outcome, tuple(result.problems)
        if stopped and plan.trigger.kind != "stream":
            outcome, problems = "cancelled", (*problems, "stopped by the agent")
        record = run_record(result, self.node, outcome, problems)
        self._marker.unlink(missing_ok=True)
        restarting = outcome not in ("succeeded", "cancelled") and not stopped
        self.slices = {s.id: s for s in result.slices}
        self._report_slices(desired, force=True)
        events = read_events(data_dir / ".runink" / "runs" / result.run_id)
        try:
            self._reporter.run(record, restarted=restarting, events=events)
        except Exception as exc:
            logger.warning(
                "pipeline %s: cannot report run %s: %s", plan.pipeline, result.run_id, exc
            )
        return record

    # --- reports ---------------------------------------------------------------------

    def _checkpoint(self, desired: Desired, offsets: Mapping[str, int]) -> None:
        """Every sink committed up to ``offsets``: a restart (here or elsewhere) resumes
        there. A checkpoint that cannot be saved is retried with the next one."""
        try:
            self._reporter.save_checkpoint(desired.herd, desired.pipeline, offsets)
        except Exception as exc:
            logger.warning("pipeline %s: checkpoint not saved: %s", desired.pipeline, exc)

    def _progress(self, desired: Desired, statuses: Mapping[str, SliceStatus]) -> None:
        with self._cond:
            # A stop asked just before the executor started would be forgotten by it.
            if self._executor is not None and (
                self._stopping or self._desired.revision != desired.revision
            ):
                self._executor.stop()
        self.slices = dict(statuses)
        self._report_slices(desired)

    def _states(self) -> list[SliceState]:
        return [
            SliceState(
                slice=s.id,
                state=s.state,
                node=self.node,
                restarts=self.restarts,
                message=s.error or "",
            )
            for s in self.slices.values()
        ]

    def _report_slices(self, desired: Desired, force: bool = False) -> None:
        states = self._states()
        key = [(s.slice, s.state, s.restarts) for s in states]
        if key == self._last_report and not force:
            return
        try:
            self._reporter.slices(desired, states)
            self._last_report = key
        except Exception as exc:
            logger.warning("pipeline %s: cannot report slices: %s", desired.pipeline, exc)

    def _report_idle(self, desired: Desired, state: str, message: str = "") -> None:
        """Report every slice of the Plan in ``state`` (nothing running)."""
        states = [
            SliceState(n.id, state, self.node, self.restarts, message) for n in desired.plan.nodes
        ]
        key = [(s.slice, s.state, s.restarts) for s in states]
        if key == self._last_report:
            return
        try:
            self._reporter.slices(desired, states)
            self._last_report = key
        except Exception as exc:
            logger.warning("pipeline %s: cannot report slices: %s", desired.pipeline, exc)

    def counts(self) -> dict[str, int]:
        """How many slices are in each state right now."""
        out: dict[str, int] = {}
        for s in self.slices.values():
            out[s.state] = out.get(s.state, 0) + 1
        return out


def read_events(run_dir: Path) -> str:
    """The run's OpenLineage events (``lineage/<n>-<type>.json``) as one JSON array.

    Lineage never fails a run: an unreadable file leaves the events out (logged) and
    the run is reported all the same.
    """
    directory = run_dir / "lineage"
    try:
        files = sorted(
            (p for p in directory.glob("*-*.json") if p.name.split("-", 1)[0].isdigit()),
            key=lambda p: int(p.name.split("-", 1)[0]),
        )
        events = [orjson.loads(p.read_bytes()) for p in files]
    except (OSError, orjson.JSONDecodeError) as exc:
        logger.warning("run %s: cannot read its lineage events: %s", run_dir.name, exc)
        return ""
    return orjson.dumps(events).decode() if events else ""


def _parse_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def oom_killed(status: SliceStatus | Any) -> bool:
    return bool(getattr(status, "state", "") == OOM_KILLED)
