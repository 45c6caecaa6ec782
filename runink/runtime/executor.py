"""Run one Plan as a process graph: one slice per node, joined by pipes.

The executor is single-threaded (a select() loop over the slices' control pipes),
so an isolating spawner may fork from it safely. It starts every slice, follows
their reports, kills the whole graph on the first failure, and checks that every
record is accounted for: per node (source ``in == out + dlq``; step ``in ==
consumed + filtered + dlq``; sink ``in == out``) and per edge (what a node sent a
target equals what the target read from it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from runink.compiler.plan import Plan
from runink.runtime.framing import set_pipe_size
from runink.runtime.ids import uuid7
from runink.runtime.spawn import LocalSpawner, SliceLaunch, SliceProcess, Spawner
from runink.runtime.spec import Output, SliceSpec
from runink.uris import parse_uri

log = logging.getLogger(__name__)

ASSERT_NODE = "assertions"
# Built-ins whose output has another shape than their input (user steps may too).
RESHAPING_STEPS = frozenset({"Aggregate", "Select", "Rename"})
EXIT_GRACE_SECONDS = 10.0


@dataclass
class SliceStatus:
    """What the supervisor knows of one slice, updated from its reports."""

    id: str
    kind: str
    name: str
    state: str = "pending"
    counts: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    # A step reading an unchecking source: its lines that were not records, and blank.
    source_lines: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    max_rss_kb: int = 0
    cpu_seconds: float = 0.0
    exit_code: int | None = None
    error: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class RunResult:
    run_id: str
    pipeline: str
    herd: str
    revision: str | None
    started_at: str
    ended_at: str
    outcome: str
    slices: tuple[SliceStatus, ...]
    totals: Mapping[str, int]
    problems: tuple[str, ...]
    run_dir: str
    dlq: str

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[Mapping[str, SliceStatus]], None]


class Executor:
    """Runs Plans locally; ``spawner`` decides how slices are started (isolation)."""

    def __init__(self, spawner: Spawner | None = None, timeout: float | None = None) -> None:
        self.spawner: Spawner = spawner or LocalSpawner()
        self.timeout = timeout  # None: no deadline (a stream runs until stopped)
        self._stop = False

    def stop(self) -> None:
        """End the running pipeline cleanly: sources stop, the rest drains and commits."""
        self._stop = True

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """Ctrl-C once: stop cleanly (a stream ends, batch runs drain); twice: now."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_interrupt(signum: int, frame: Any) -> None:
            if self._stop:
                raise KeyboardInterrupt  # the second one: every slice is killed
            self._stop = True

        previous = signal.signal(signal.SIGINT, on_interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(
        self,
        plan: Plan,
        *,
        contracts: Mapping[str, Mapping[str, Any]],
        repo_dir: Path,
        data_dir: Path,
        run_dir: Path,
        source: str | None = None,
        sinks: Mapping[str, str] | None = None,
        mask_key: bytes | None = None,
        on_progress: Progress | None = None,
        repository: str | None = None,
        records_dir: Path | None = None,
        resume: Mapping[str, int] | None = None,
        on_checkpoint: Callable[[Mapping[str, int]], None] | None = None,
    ) -> RunResult:
        """Run ``plan`` once.

        ``source`` replaces the source URI (``--input``); ``sinks`` maps sink node ids
        to URIs that replace theirs (golden tests write every sink to a file). The run's
        own records (run.json, lineage events, slice specs) go to ``run_dir``, or to
        ``records_dir/<run_id>`` when runs share a run dir (an agent's herd dir, where
        sinks such as a warehouse outlive each run); it must lie inside ``run_dir``,
        which is all an isolated slice can see.

        A stream's source starts at ``resume`` (file -> bytes already read); whenever
        every sink has committed the records before a checkpoint barrier, its source
        offsets go to ``on_checkpoint`` (the agent keeps them in Barn).
        """
        self._stop = False
        run_id = uuid7()
        started = datetime.now(UTC)
        run_dir.mkdir(parents=True, exist_ok=True)
        records = run_dir if records_dir is None else records_dir / run_id
        nodes, edges = _graph(plan, source, sinks or {})
        dlq_path = _dlq_path(plan.dlq, run_dir)
        statuses = {n["id"]: SliceStatus(n["id"], n["kind"], n["name"]) for n in nodes}
        spec_dir = records / ".runink" / "slices" / run_id
        spec_dir.mkdir(parents=True, exist_ok=True)
        lineage = _Lineage(plan, contracts, repository, source, records)
        lineage.start(run_id, started)

        inputs: dict[str, list[int]] = {n["id"]: [] for n in nodes}
        outputs: dict[str, list[Output]] = {n["id"]: [] for n in nodes}
        for src, dst, when in edges:
            read_fd, write_fd = os.pipe()
            set_pipe_size(write_fd)
            inputs[dst].append(read_fd)
            outputs[src].append(Output(write_fd, dst, when))

        processes: dict[str, SliceProcess] = {}
        controls: dict[int, str] = {}
        barriers = _Barriers([n["id"] for n in nodes if n["kind"] == "sink"])
        buffers: dict[str, bytearray] = {}
        env = {"RUNINK_MASK_KEY": (mask_key or os.urandom(32)).hex()}
        try:
            for node in nodes:
                control_read, control_write = os.pipe()
                spec = SliceSpec(
                    run_id=run_id,
                    herd=plan.herd,
                    pipeline=plan.pipeline,
                    node=node,
                    inputs=tuple(inputs[node["id"]]),
                    outputs=tuple(outputs[node["id"]]),
                    control_fd=control_write,
                    data_dir=str(data_dir),
                    run_dir=str(run_dir),
                    repo_dir=str(repo_dir),
                    dlq_path=str(dlq_path),
                    started_at=started.isoformat(),
                    contracts=_contracts_for(node, nodes, contracts),
                    input_contract=_input_contract(node, nodes, edges),
                    assertions=tuple(a.expression for a in plan.assertions)
                    if node["id"] == ASSERT_NODE
                    else (),
                    stream=plan.trigger.kind == "stream",
                    check_lines=not _step_checks_lines(node, nodes, edges),
                    resume=dict(resume or {}) if node["kind"] == "source" else {},
                )
                spec_path = spec_dir / f"{node['id']}.json"
                spec.dump(spec_path)
                fds = (*spec.inputs, *(o.fd for o in spec.outputs), control_write)
                launch = SliceLaunch(
                    slice_id=f"{plan.pipeline}/{node['id']}",
                    herd=plan.herd,
                    argv=(sys.executable, "-m", "runink.runtime.slice", str(spec_path)),
                    pass_fds=fds,
                    cwd=str(run_dir),
                    env=env,
                    cpu_millis=plan.resources.cpu_millis,
                    memory_bytes=plan.resources.memory_bytes,
                    bind_ro=(str(repo_dir), str(data_dir)),
                    bind_rw=(str(run_dir),),
                )
                processes[node["id"]] = self.spawner.spawn(launch)
                statuses[node["id"]].state = "running"
                # The child has its copies; the supervisor keeps only the control reader.
                for fd in fds:
                    os.close(fd)
                controls[control_read] = node["id"]
                buffers[node["id"]] = bytearray()
            if on_progress is not None:  # every slice is started: say so before any reports
                on_progress(statuses)
            with self._interruptible():
                self._follow(
                    controls, buffers, statuses, processes, on_progress, barriers, on_checkpoint
                )
        finally:
            # A slice closes its control pipe as it exits; give it a moment to be
            # reaped before treating it as stuck. On failure, nothing waits.
            grace = time.monotonic() + (0 if _failed(statuses) else EXIT_GRACE_SECONDS)
            for process in processes.values():
                while process.poll() is None and time.monotonic() < grace:
                    time.sleep(0.005)
                if process.poll() is None:
                    process.kill()
            for node_id, process in processes.items():
                code = process.wait()
                status = statuses[node_id]
                status.exit_code = code
                if code != 0 and process.exit_reason() == OOM_KILLED:
                    status.state = status.error = OOM_KILLED
                elif code != 0 and status.state not in (*FAILED, "cancelled"):
                    status.state = "failed"
                    status.error = status.error or _describe_exit(code)
            for fd in controls:
                os.close(fd)
            self.spawner.cleanup()
            # A sink killed mid-run cannot remove its own unfinished file.
            for partial in run_dir.rglob(f"*.{run_id}.partial"):
                partial.unlink(missing_ok=True)
        result = _result(plan, run_id, started, statuses, edges, run_dir, dlq_path, records)
        lineage.end(result)
        return result

    def _follow(
        self,
        controls: dict[int, str],
        buffers: dict[str, bytearray],
        statuses: dict[str, SliceStatus],
        processes: Mapping[str, SliceProcess],
        on_progress: Progress | None,
        barriers: _Barriers,
        on_checkpoint: Callable[[Mapping[str, int]], None] | None,
    ) -> None:
        """Read every slice's reports until all have ended; kill all on a failure."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        open_fds = set(controls)
        stopping = False
        while open_fds:
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                for status in statuses.values():
                    if status.state == "running":
                        status.state, status.error = "failed", "timed out"
                break
            if self._stop and not stopping:
                stopping = True
                for node_id, process in processes.items():
                    if statuses[node_id].kind == "source":
                        process.terminate()
            ready, _, _ = select.select(list(open_fds), [], [], min(remaining, 1.0))
            for fd in ready:
                node_id = controls[fd]
                chunk = os.read(fd, 65536)
                if not chunk:
                    open_fds.discard(fd)
                    status = statuses[node_id]
                    if status.state not in TERMINAL:
                        # It died without a last word (SIGKILL, OOM, a crash).
                        status.error = _exit_reason(processes[node_id])
                        status.state = OOM_KILLED if status.error == OOM_KILLED else "failed"
                    continue
                buffers[node_id] += chunk
                *lines, rest = bytes(buffers[node_id]).split(b"\n")
                buffers[node_id] = bytearray(rest)
                for line in lines:
                    message = orjson.loads(line)
                    _apply(statuses[node_id], message)
                    if "checkpoint" in message and on_checkpoint is not None:
                        done = barriers.committed(node_id, message["checkpoint"])
                        if done is not None:
                            on_checkpoint(done)
            if on_progress is not None:
                on_progress(statuses)
            if any(s.state in FAILED for s in statuses.values()):
                for node_id, process in processes.items():
                    if statuses[node_id].state == "running":
                        process.kill()
                        statuses[node_id].state = "cancelled"


class _Lineage:
    """Writes the run's OpenLineage events to ``<run dir>/lineage/``.

    Nothing about lineage may delay or fail a run: an error here is logged, and the
    run goes on (its events are then missing, and the log says why).
    """

    def __init__(
        self,
        plan: Plan,
        contracts: Mapping[str, Mapping[str, Any]],
        repository: str | None,
        source: str | None,
        run_dir: Path,
    ) -> None:
        self.options: dict[str, Any] = {
            "contracts": contracts,
            "repository": repository,
            "source": source,
        }
        self.plan = plan
        self.run_dir = run_dir

    def start(self, run_id: str, started: datetime) -> None:
        try:
            from runink.lineage import start_event, write_events

            event = start_event(self.plan, run_id=run_id, started_at=started, **self.options)
            write_events(self.run_dir, [event])
        except Exception:
            log.exception("could not write the START lineage event of %s", self.plan.pipeline)

    def end(self, result: RunResult) -> None:
        try:
            from runink.lineage import end_event, write_events

            write_events(self.run_dir, [end_event(self.plan, result, **self.options)])
        except Exception:
            log.exception("could not write the end lineage event of %s", self.plan.pipeline)


class _Barriers:
    """Which checkpoint every sink has committed: a mark's offsets are safe to keep only
    once the last sink reports it."""

    def __init__(self, sinks: list[str]) -> None:
        self.sinks = set(sinks)
        self.reported: dict[int, set[str]] = {}

    def committed(self, sink: str, checkpoint: Mapping[str, Any]) -> Mapping[str, int] | None:
        mark = int(checkpoint["id"])
        seen = self.reported.setdefault(mark, set())
        seen.add(sink)
        if seen != self.sinks:
            return None
        for older in [m for m in self.reported if m <= mark]:
            del self.reported[older]
        return {str(k): int(v) for k, v in dict(checkpoint["offsets"]).items()}


def _failed(statuses: Mapping[str, SliceStatus]) -> bool:
    return any(s.state in (*FAILED, "running", "pending") for s in statuses.values())


# A slice the cgroup OOM killer ended: its own state, not a generic failure.
OOM_KILLED = "OOMKilled"
FAILED = ("failed", OOM_KILLED)
TERMINAL = ("succeeded", "failed", "cancelled", OOM_KILLED)


def _apply(status: SliceStatus, message: Mapping[str, Any]) -> None:
    if status.state in (*FAILED, "cancelled"):
        return  # a report still in the pipe does not revive a stopped slice
    status.state = str(message["state"])
    status.seconds = float(message.get("seconds", 0.0))
    status.max_rss_kb = int(message.get("max_rss_kb", 0))
    status.cpu_seconds = float(message.get("cpu_seconds", 0.0))
    status.counts = {
        k: int(message.get(k, 0))
        for k in ("in", "out", "dlq", "filtered", "consumed", "routed_dlq")
    }
    status.sent = {str(k): int(v) for k, v in (message.get("sent") or {}).items()}
    status.source_lines = (int(message.get("source_dlq", 0)), int(message.get("source_blank", 0)))
    if message.get("error"):
        status.error = str(message["error"])
        status.traceback = message.get("traceback")


def _exit_reason(process: SliceProcess) -> str:
    try:
        code = process.wait(timeout=EXIT_GRACE_SECONDS)
    except Exception:  # still running although its control pipe closed
        return "closed its control channel without reporting"
    if code != 0 and process.exit_reason() == OOM_KILLED:
        return OOM_KILLED
    return _describe_exit(code)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def _graph(
    plan: Plan, source: str | None, sinks: Mapping[str, str]
) -> tuple[list[dict[str, Any]], list[tuple[str, str, str | None]]]:
    """Nodes and edges to run: the plan's, plus one assertions step before the sinks."""
    nodes = [asdict(n) for n in plan.nodes]
    for node in nodes:
        node["contract"] = node["contract"]["id"] if node["contract"] else None
        if node["kind"] == "source" and source is not None:
            node["uri"] = source
        if node["id"] in sinks:
            node["uri"] = sinks[node["id"]]
            node["params"] = {}
    sink_nodes = {n.id: n for n in plan.nodes if n.kind == "sink"}
    edges: list[tuple[str, str, str | None]] = []
    if plan.assertions:
        first_sink = next(i for i, n in enumerate(nodes) if n["kind"] == "sink")
        nodes.insert(
            first_sink,
            {"id": ASSERT_NODE, "kind": "step", "name": "Assert", "params": {}, "contract": None},
        )
        feeding = sorted({e.source for e in plan.edges if e.target in sink_nodes})
        edges += [(u, ASSERT_NODE, None) for u in feeding]
    for edge in plan.edges:
        sink = sink_nodes.get(edge.target)
        when = sink.when if sink else None
        upstream = ASSERT_NODE if sink and plan.assertions else edge.source
        edges.append((upstream, edge.target, when))
    return nodes, sorted(set(edges), key=lambda e: (e[0], e[1]))


def _contracts_for(
    node: Mapping[str, Any],
    nodes: list[dict[str, Any]],
    contracts: Mapping[str, Mapping[str, Any]],
) -> dict[str, Mapping[str, Any]]:
    """The contract documents a slice may need (steps; sinks create tables from one)."""
    if node["kind"] == "source":
        return {}
    wanted = {n["contract"] for n in nodes if n.get("contract")}
    wanted |= {str(node["params"].get("contract"))} if node["params"].get("contract") else set()
    return {cid: contracts[cid] for cid in sorted(wanted) if cid in contracts}


def _input_contract(
    node: Mapping[str, Any], nodes: list[dict[str, Any]], edges: list[tuple[str, str, str | None]]
) -> str | None:
    """The contract of the records reaching ``node``: the nearest upstream that has one."""
    by_id = {n["id"]: n for n in nodes}
    current = node["id"]
    seen: set[str] = set()
    while current not in seen:
        seen.add(current)
        upstream = [src for src, dst, _ in edges if dst == current]
        if len(upstream) != 1:
            return None
        previous = by_id[upstream[0]]
        if previous.get("contract"):
            return str(previous["contract"])
        if previous["kind"] == "step" and (
            previous.get("module") or previous["name"] in RESHAPING_STEPS
        ):
            return None  # the records no longer have the upstream contract's shape
        current = previous["id"]
    return None


def sink_contract(plan: Plan, sink_id: str) -> str | None:
    """The contract id of the records reaching sink ``sink_id`` (its own, or upstream's)."""
    node = plan.node(sink_id)
    if node.contract is not None:
        return node.contract.id
    nodes, edges = _graph(plan, None, {})
    return _input_contract(next(n for n in nodes if n["id"] == sink_id), nodes, edges)


def _dlq_path(uri: str, run_dir: Path) -> Path:
    parsed = parse_uri(uri, ("jsonl",))
    path = (run_dir / parsed.path).resolve()
    if not path.is_relative_to(run_dir.resolve()):
        raise ValueError(f"DLQ {uri} resolves outside the run directory")
    return path


def _step_checks_lines(
    node: Mapping[str, Any], nodes: list[dict[str, Any]], edges: list[tuple[str, str, str | None]]
) -> bool:
    """Whether ``node`` is a source whose lines one step alone reads: that step parses
    them anyway, so it finds the lines that are not records (framing's LINES frames).
    A source read by a sink, a ``when=`` or several readers checks its own lines."""
    if node["kind"] != "source":
        return False
    out = [(dst, when) for src, dst, when in edges if src == node["id"]]
    if len(out) != 1 or out[0][1] is not None:
        return False
    target = out[0][0]
    kinds = {n["id"]: n["kind"] for n in nodes}
    return kinds[target] == "step" and sum(1 for _, dst, _ in edges if dst == target) == 1


def _book_source_lines(
    statuses: Mapping[str, SliceStatus], edges: list[tuple[str, str, str | None]]
) -> list[str]:
    """Book the lines a step found not to be records (or blank) to the source that sent
    them unchecked, as if it had checked them itself: its counts, its DLQ, its edge.
    Returns what cannot be booked (a report from a step no single source feeds)."""
    problems = []
    for target, status in statuses.items():
        rejected, blank = status.source_lines
        if not (rejected or blank):
            continue
        upstream = [src for src, dst, _ in edges if dst == target]
        if len(upstream) != 1 or statuses[upstream[0]].kind != "source":
            problems.append(f"{target}: reported source lines, but no single source feeds it")
            continue
        source = upstream[0]
        counts, sent = statuses[source].counts, statuses[source].sent
        counts["in"] = counts.get("in", 0) - blank
        counts["out"] = counts.get("out", 0) - rejected - blank
        counts["dlq"] = counts.get("dlq", 0) + rejected
        sent[target] = sent.get(target, 0) - rejected - blank
        status.source_lines = (0, 0)
    return problems


def _result(
    plan: Plan,
    run_id: str,
    started: datetime,
    statuses: Mapping[str, SliceStatus],
    edges: list[tuple[str, str, str | None]],
    run_dir: Path,
    dlq_path: Path,
    records: Path,
) -> RunResult:
    problems = _book_source_lines(statuses, edges)
    for s in statuses.values():
        if s.state != "succeeded":
            continue
        c = s.counts
        if s.kind == "source" and c["in"] != c["out"] + c["dlq"]:
            problems.append(f"{s.id}: read {c['in']} but emitted {c['out']} + dlq {c['dlq']}")
        if s.kind == "step" and c["in"] != c["consumed"] + c["filtered"] + c["dlq"]:
            problems.append(
                f"{s.id}: took {c['in']} but consumed {c['consumed']} + filtered "
                f"{c['filtered']} + dlq {c['dlq']}"
            )
        if s.kind == "sink" and c["in"] != c["out"]:
            problems.append(f"{s.id}: received {c['in']} but wrote {c['out']}")
    for target, status in statuses.items():
        upstream = [src for src, dst, _ in edges if dst == target]
        if status.state != "succeeded" or not all(
            statuses[u].state == "succeeded" for u in upstream
        ):
            continue
        sent = sum(statuses[u].sent.get(target, 0) for u in upstream)
        if upstream and sent != status.counts["in"]:
            problems.append(
                f"{target}: upstream sent {sent} records, it read {status.counts['in']}"
            )
    failed = [s for s in statuses.values() if s.state != "succeeded"]
    outcome = "succeeded" if not failed and not problems else "failed"
    totals = {
        "read": sum(s.counts.get("in", 0) for s in statuses.values() if s.kind == "source"),
        "written": sum(s.counts.get("out", 0) for s in statuses.values() if s.kind == "sink"),
        "dlq": sum(
            s.counts.get("dlq", 0) + s.counts.get("routed_dlq", 0) for s in statuses.values()
        ),
        "filtered": sum(s.counts.get("filtered", 0) for s in statuses.values()),
    }
    result = RunResult(
        run_id=run_id,
        pipeline=plan.pipeline,
        herd=plan.herd,
        revision=plan.revision,
        started_at=started.isoformat(),
        ended_at=datetime.now(UTC).isoformat(),
        outcome=outcome,
        slices=tuple(statuses.values()),
        totals=totals,
        problems=tuple(problems),
        run_dir=str(run_dir),
        dlq=str(dlq_path),
    )
    (records / "run.json").write_bytes(
        orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    return result
