"""Streaming sources: ``dir://inbox/*.jsonl`` reads new files as they arrive.

Files already there are read first (in name order); then watchdog reports files
when they are closed after writing (inotify's close-write) or renamed into the
directory. A file is followed by byte offset, like ``tail``: each report reads the
complete lines added since the last one, so a file listed while still being written,
or appended to later, loses nothing and is never read twice. The stream ends when the
slice is asked to stop (SIGTERM from its supervisor).
"""

from __future__ import annotations

import fnmatch
import queue
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from watchdog.events import FileClosedEvent, FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

POLL_SECONDS = 0.2


class _Arrivals(FileSystemEventHandler):
    def __init__(self, pattern: str, found: queue.Queue[Path]) -> None:
        self.pattern = pattern
        self.found = found

    def _offer(self, path: str) -> None:
        if fnmatch.fnmatch(Path(path).name, self.pattern):
            self.found.put(Path(path))

    def on_closed(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileClosedEvent) and not event.is_directory:
            self._offer(str(event.src_path))

    def on_moved(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileMovedEvent) and not event.is_directory:
            self._offer(str(event.dest_path))


def watch_files(directory: Path, pattern: str, stopping: Callable[[], bool]) -> Iterator[Path]:
    """Files matching ``pattern`` in ``directory`` that may hold new complete lines:
    those there now, then each one written or renamed in (a file may come again)."""
    directory.mkdir(parents=True, exist_ok=True)
    found: queue.Queue[Path] = queue.Queue()
    observer: Any = Observer()
    observer.schedule(_Arrivals(pattern, found), str(directory), recursive=False)
    observer.start()  # before listing, so a file arriving in between is not missed
    try:
        for path in sorted(p for p in directory.iterdir() if fnmatch.fnmatch(p.name, pattern)):
            yield path
        while not stopping():
            try:
                path = found.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if path.is_file():
                yield path
    finally:
        observer.stop()
        observer.join(timeout=5)


def new_lines(
    directory: Path,
    pattern: str,
    stopping: Callable[[], bool],
    offsets: dict[Path, int] | None = None,
) -> Iterator[bytes]:
    """The complete lines each file gained since it was last read, as one chunk per read.

    ``offsets`` (file -> bytes already read) is where reading starts, and is kept up to
    date as chunks are yielded: a checkpoint is a copy of it.
    """
    offsets = {} if offsets is None else offsets
    for path in watch_files(directory, pattern, stopping):
        start = offsets.get(path, 0)
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a partial last line waits for the next write
        if complete:
            offsets[path] = start + len(complete)
            yield complete
