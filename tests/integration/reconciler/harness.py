"""A control plane for reconciler tests, and what it says about its source."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from reconciler.embedded import embedded_config
from reconciler.server import ControlPlane
from runink.api.records import SourceRecord


@contextlib.contextmanager
def serving(state: Path, source: Path | str) -> Iterator[ControlPlane]:
    """An embedded control plane for ``source`` (a path or a URL), stopped on exit.

    A resync of an hour: what a test sees happens because of events, not polling.
    """
    plane = ControlPlane(embedded_config(state, source, resync=3600))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


def source_record(plane: ControlPlane) -> SourceRecord | None:
    """``/sources/local``, once the source controller wrote it."""
    assert plane.barn is not None
    kv = plane.barn.get("/sources/local")
    return None if kv is None else SourceRecord.from_dict(kv.value)
