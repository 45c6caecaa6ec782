"""The slice process: one source, step or sink of one run (``python -m runink.runtime.slice``).

It reads its SliceSpec, moves batches from its input pipes to its output pipes,
sends rejected records to the DLQ file, and reports counts and its final state
as JSON lines on its control pipe (never on the data pipes). Exit status 0 only
when its input ended cleanly, its output was committed and its counts add up.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from runink.runtime.connectors import open_sink, read_source
from runink.runtime.framing import Batch, FrameWriter, Mark, merge
from runink.runtime.spec import SliceSpec

Record = dict[str, Any]
PROGRESS_EVERY = 0.5


class Reporter:
    """Counts, and the control channel to the supervisor."""

    def __init__(self, spec: SliceSpec) -> None:
        self.spec = spec
        self.control = os.fdopen(spec.control_fd, "wb", buffering=0)
        # Per node: source in == out + dlq; step in == consumed + filtered + dlq;
        # sink in == out. routed_dlq: emitted records whose when= failed (DLQ copies).
        # source_dlq, source_blank: lines of an unchecking source (LINES frames) that a
        # step found not to be records, or blank; the supervisor books them to the source.
        self.counts = {
            "in": 0,
            "out": 0,
            "dlq": 0,
            "filtered": 0,
            "consumed": 0,
            "routed_dlq": 0,
            "source_dlq": 0,
            "source_blank": 0,
        }
        self.sent: dict[str, int] = {}  # target node -> records written to its pipe
        self.reported: dict[str, int] = dict(self.counts)
        self.started = time.monotonic()
        self.last = 0.0

    def send(self, state: str, **extra: Any) -> None:
        message = {
            "slice": self.spec.slice_id,
            "state": state,
            "seconds": round(time.monotonic() - self.started, 6),
            "sent": self.sent,
            **_usage(),
            **self.counts,
            **extra,
        }
        self.control.write(orjson.dumps(message) + b"\n")

    def progress(self) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.reported = dict(self.counts)
            self.send("running")

    def flush(self) -> None:
        """Report counts a rate-limited progress() left out (called when idle)."""
        if self.counts != self.reported:
            self.last = time.monotonic()
            self.reported = dict(self.counts)
            self.send("running")


def _usage() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"max_rss_kb": _peak_rss_kb(), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)}


def _peak_rss_kb() -> int:
    """This process's own peak RSS. Not ru_maxrss: Linux carries the forking parent's
    peak over exec into it, so every slice would report its supervisor's size."""
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Dlq:
    """Appends rejected records to the run's DLQ file; batches are written under flock
    so slices writing at once never interleave lines."""

    def __init__(self, spec: SliceSpec, reporter: Reporter) -> None:
        self.spec = spec
        self.reporter = reporter
        self.handle: BinaryIO | None = None

    def send(self, entries: Iterable[Mapping[str, Any]], counter: str = "dlq") -> None:
        lines = [
            orjson.dumps({**e, "run_id": self.spec.run_id}, default=str) + b"\n" for e in entries
        ]
        if not lines:
            return
        if self.handle is None:
            Path(self.spec.dlq_path).parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.spec.dlq_path, "ab")  # noqa: SIM115 - kept for the run
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        try:
            self.handle.write(b"".join(lines))
            self.handle.flush()
        finally:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.reporter.counts[counter] += len(lines)


def _tester(expr: Any, now: datetime) -> Any:
    return lambda record: expr.test(record, now=now)


class Outputs:
    """The node's downstream pipes; ``when=`` decides which records each one gets."""

    def __init__(self, spec: SliceSpec, sent: dict[str, int]) -> None:
        self.sent = sent
        self.writers = []
        for output in spec.outputs:
            test = None
            if output.when:
                # Only a routing slice loads the expression compiler (lark): startup is
                # a visible share of a short run (bench/throughput.py).
                from runink.dsl import compile_expression

                expr = compile_expression(output.when, f"{spec.slice_id}->{output.target}")
                now = datetime.fromisoformat(spec.started_at)
                test = _tester(expr, now)
            self.writers.append((FrameWriter(output.fd), output.target, test))

    def write(self, batch: Batch) -> list[tuple[Record, str]]:
        """Send a batch on; returns (record, reason) for those a ``when=`` could not judge."""
        failed: list[tuple[Record, str]] = []
        for writer, target, test in self.writers:
            if test is None:
                writer.write(batch)
                self.sent[target] = self.sent.get(target, 0) + batch.count
                continue
            chosen = []
            for record in batch.records():
                try:
                    if test(record):
                        chosen.append(record)
                except Exception as exc:  # the record goes to the DLQ with the reason
                    failed.append((record, f"when= could not be evaluated: {exc}"))
            writer.write(batch.select(chosen))
            self.sent[target] = self.sent.get(target, 0) + len(chosen)
        return failed

    def mark(self, mark: Mark) -> None:
        for writer, _, _ in self.writers:
            writer.mark(mark)

    def end(self) -> None:
        for writer, _, _ in self.writers:
            writer.end()


class Alignment:
    """Barrier alignment: a mark goes on once every input has delivered it."""

    def __init__(self, inputs: int) -> None:
        self.inputs = inputs
        self.seen: dict[int, int] = {}

    def complete(self, mark: Mark) -> bool:
        count = self.seen.get(mark.id, 0) + 1
        if count < self.inputs:
            self.seen[mark.id] = count
            return False
        self.seen.pop(mark.id, None)
        return True


_STOP = {"requested": False}


def _request_stop(signum: int, frame: Any) -> None:
    _STOP["requested"] = True


def run_source(spec: SliceSpec, report: Reporter, dlq: Dlq, outputs: Outputs) -> None:
    node = spec.node
    # The supervisor ends a stream with SIGTERM: finish the current file, end cleanly.
    signal.signal(signal.SIGTERM, _request_stop)

    def stopping() -> bool:
        report.flush()  # polled while a stream waits for input: a good time to report
        return _STOP["requested"]

    data_dir = Path(spec.data_dir).resolve()
    offsets = {data_dir / name: int(at) for name, at in spec.resume.items()}
    marks = 0
    batches = read_source(
        str(node["uri"]), data_dir, spec.batch_size, stopping, offsets, spec.check_lines
    )
    for records, rejected in batches:
        if records is None:  # a checkpoint: every record read so far has been sent on
            marks += 1
            outputs.mark(Mark(marks, {str(p.relative_to(data_dir)): o for p, o in offsets.items()}))
            continue
        report.counts["in"] += records.count + len(rejected)
        dlq.send({"record": r.raw, "reason": r.reason, "step": "source"} for r in rejected)
        unrouted = outputs.write(records)
        dlq.send(
            ({"record": r, "reason": why, "step": "source"} for r, why in unrouted), "routed_dlq"
        )
        report.counts["out"] += records.count
        report.progress()


def run_step(spec: SliceSpec, report: Reporter, dlq: Dlq, outputs: Outputs) -> None:
    from runink.runtime.steps import build_step

    impl = build_step(spec)
    name = str(spec.node["name"])
    # A selecting step emits input records unchanged: their original lines go on.
    selects = bool(getattr(impl, "passthrough", False))
    aligned = Alignment(len(spec.inputs))
    for batch in merge(list(spec.inputs), on_idle=report.flush):
        if isinstance(batch, Mark):
            if aligned.complete(batch):  # every input is past this barrier
                outputs.mark(batch)
            continue
        if batch.first_line is not None:  # a source's unchecked lines: parsed here
            batch, rejected, blank = batch.check()
            report.counts["source_blank"] += blank
            dlq.send(
                ({"record": r.raw, "reason": r.reason, "step": "source"} for r in rejected),
                "source_dlq",
            )
        outcome = impl.process(batch.records())
        accounted = outcome.consumed + outcome.filtered + len(outcome.dlq)
        if accounted != batch.count:
            raise RuntimeError(
                f"step {name} accounted for {accounted} of {batch.count} records "
                f"(consumed {outcome.consumed}, filtered {outcome.filtered}, "
                f"dlq {len(outcome.dlq)})"
            )
        out = batch.select(outcome.records) if selects else Batch.of_records(outcome.records)
        _emit(report, dlq, outputs, name, batch.count, outcome, out)
        report.progress()
    final = impl.flush()
    _emit(report, dlq, outputs, name, 0, final, Batch.of_records(final.records))


def _emit(
    report: Reporter,
    dlq: Dlq,
    outputs: Outputs,
    name: str,
    taken: int,
    outcome: Any,
    out: Batch,
) -> None:
    report.counts["in"] += taken
    report.counts["consumed"] += outcome.consumed
    report.counts["filtered"] += outcome.filtered
    dlq.send(
        {
            "record": e.record,
            "reason": e.reason,
            "step": e.step,
            "contract": e.contract,
            **({"traceback": e.traceback} if getattr(e, "traceback", None) else {}),
        }
        for e in outcome.dlq
    )
    unrouted = outputs.write(out)
    dlq.send(({"record": r, "reason": why, "step": name} for r, why in unrouted), "routed_dlq")
    report.counts["out"] += out.count


def run_sink(spec: SliceSpec, report: Reporter) -> None:
    node = spec.node
    contract_id = node.get("contract") or spec.input_contract
    document = spec.contracts.get(str(contract_id)) if contract_id else None
    contract = None
    if document:  # a sink that needs its contract (e.g. a DuckDB table's columns)
        from runink.contracts import contract_from_data

        contract = contract_from_data(document)
    sink = open_sink(
        str(node["uri"]),
        Path(spec.run_dir),
        node.get("params") or {},
        spec.run_id,
        contract,
        spec.stream,
    )
    aligned = Alignment(len(spec.inputs))
    try:
        for batch in merge(list(spec.inputs), on_idle=report.flush):
            if isinstance(batch, Mark):
                # A stream sink committed each batch as it came: what came before the
                # barrier is durable, so its offsets may be checkpointed.
                if aligned.complete(batch):
                    report.send("running", checkpoint={"id": batch.id, "offsets": batch.offsets})
                continue
            sink.write(batch)
            report.counts["in"] += batch.count
            report.counts["out"] += batch.count
            report.progress()
    except BaseException:
        sink.abort()
        raise
    sink.commit()


# mallopt(3) parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MALLOC_SETTINGS = (
    (_M_TOP_PAD, 64 << 20),
    (_M_TRIM_THRESHOLD, 256 << 20),
    (_M_MMAP_THRESHOLD, 32 << 20),  # the most mallopt(3) documents on 64-bit
)


def settle_malloc() -> bool:
    """A padded heap that is not trimmed: glibc gives freed heap top back to the kernel
    at every batch by default (trim at 128 KiB), so a slice paid a page fault per page
    of every batch it touched, a third of a step slice's CPU (bench/throughput.py).

    Set here with mallopt(), not with MALLOC_* variables at exec: a slice forked warm
    from the isolation forkserver never starts glibc afresh, and ran 3x slower without
    them. False where the C library has no mallopt (not glibc): its defaults stand.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(mallopt(option, value) == 1 for option, value in MALLOC_SETTINGS)


def settle_gc() -> None:
    """Fewer, cheaper cyclic collections: a slice allocates a batch of records at a time
    and frees it whole, so the default (a collection per 700 allocations, rescanning
    what survived) spent ~7% of a step slice's CPU (bench/throughput.py). Cycles made
    by user code are still collected, only later; what was loaded at startup is frozen
    out of every scan."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def main(argv: list[str]) -> int:
    settle_malloc()
    settle_gc()
    spec = SliceSpec.load(Path(argv[1]))
    report = Reporter(spec)
    report.send("running")
    kind = spec.node["kind"]
    try:
        if kind == "sink":
            run_sink(spec, report)
        else:
            dlq = Dlq(spec, report)
            outputs = Outputs(spec, report.sent)
            if kind == "source":
                run_source(spec, report, dlq, outputs)
            else:
                run_step(spec, report, dlq, outputs)
            outputs.end()
    except Exception as exc:  # reported to the supervisor, then exit 1
        report.send(
            "failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()
        )
        return 1
    report.send("succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
