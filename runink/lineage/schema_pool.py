"""OpenLineage schema checks in a worker process at low CPU priority.

Checking a run's events against the official schemas costs about 4 ms of pure-Python
CPU (jsonschema). In the server's own process that work holds the GIL, and every
finishing run's report waits behind it: in a burst of 1,000 runs, report latency went
from about 1 ms to over 20 ms. In one worker process (``nice`` 10, started on first
use, ``python -m runink.lineage.schema_pool``) the checks cost the server's threads
only the serialising of the events, and the scheduler gives the CPU to the server
first. Requests and answers are JSON lines on the worker's stdin and stdout; the worker
ends when its stdin closes (the server stopped or died).

If the worker cannot be started, or dies twice in a row, the checks run in-process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

import orjson

from runink.lineage.schema import SchemaUnavailable, event_schema, specs_dir

log = logging.getLogger("runink.lineage.schema")

WORKER_NICE: Final = 10
_RESTARTS: Final = 1
_SOURCE_ROOT: Final = Path(__file__).resolve().parents[2]  # where ``runink`` is importable


class SchemaChecker:
    """One worker process (started on first use, ended by :meth:`close`) and the lock
    that keeps one request on its pipe at a time. Its owner (the lineage controller)
    closes it when the server stops."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.failures = 0

    def check_runs(self, runs: Sequence[Sequence[Mapping[str, Any]]]) -> list[list[str]]:
        """For each run's events, what breaks the OpenLineage schema (empty when valid).

        Raises :class:`runink.lineage.schema.SchemaUnavailable` when the schemas are
        missing.
        """
        if not runs:
            return []
        payload = [[dict(e) for e in run] for run in runs]
        answer = self.ask(payload)
        if answer is None:
            return check(payload, specs_dir())
        if "unavailable" in answer:
            raise SchemaUnavailable(str(answer["unavailable"]))
        problems: list[list[str]] = answer["problems"]
        return problems

    def close(self) -> None:
        """End the worker (a later check starts another)."""
        with self.lock:
            self._stop()
            self.failures = 0

    def ask(self, runs: list[list[dict[str, Any]]]) -> dict[str, Any] | None:
        """The worker's answer, or None when there is no working worker."""
        with self.lock:
            while self.failures <= _RESTARTS:
                process = self.process or self._start()
                if process is None:
                    return None
                try:
                    stdin, stdout = _pipes(process)
                    stdin.write(orjson.dumps(runs) + b"\n")
                    stdin.flush()
                    line = stdout.readline()
                    if line:
                        answer: dict[str, Any] = orjson.loads(line)
                        self.failures = 0
                        return answer
                except (OSError, ValueError):
                    pass
                self.failures += 1
                log.warning("lineage: the schema worker died (exit %s)", process.poll())
                self._stop()
            return None

    def _start(self) -> subprocess.Popen[bytes] | None:
        env = {**os.environ, "PYTHONPATH": _pythonpath()}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runink.lineage.schema_pool", str(specs_dir())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            log.warning("lineage: schema checks stay in-process: %s", exc)
            self.failures = _RESTARTS + 1
            return None
        return self.process

    def _stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def check(runs: list[list[dict[str, Any]]], directory: Path) -> list[list[str]]:
    """The same check, in this process."""
    schema = event_schema(directory)
    return [[p for event in run for p in schema.problems(event)] for run in runs]


def _pipes(process: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    if process.stdin is None or process.stdout is None:
        raise OSError("the schema worker has no pipes")
    return process.stdin, process.stdout


def _pythonpath() -> str:
    current = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (str(_SOURCE_ROOT), current) if p)


def main() -> None:
    """The worker: one JSON line of runs in, one JSON line of problems out, until EOF."""
    os.nice(WORKER_NICE)
    directory = Path(sys.argv[1])
    for line in sys.stdin.buffer:
        try:
            answer: dict[str, Any] = {"problems": check(orjson.loads(line), directory)}
        except SchemaUnavailable as exc:
            answer = {"unavailable": str(exc)}
        sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
