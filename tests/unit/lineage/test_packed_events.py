"""Pending runs' events wait in Barn packed; a bad packing is a clear error, not a crash."""

from __future__ import annotations

import base64
import zlib

import orjson
import pytest

from runink.api.records import PACKED_EVENTS, pack_events
from runink.lineage.writer import PendingError, PendingRun
from tests.integration.lineage.harness import pending_value


def test_a_packed_value_reads_back_as_the_same_run_and_is_much_smaller() -> None:
    value = pending_value()
    events = orjson.dumps(value.pop("events"))
    packed = {**value, PACKED_EVENTS: pack_events(events)}
    run = PendingRun.from_value(packed)
    assert list(run.events) == orjson.loads(events)
    assert len(orjson.dumps(packed)) * 4 < len(events)


@pytest.mark.parametrize(
    ("packed", "words"),
    [
        ("not base64 at all!", "not compressed JSON"),
        (base64.b64encode(b"plain bytes").decode(), "not compressed JSON"),
        (base64.b64encode(zlib.compress(b"[{")).decode(), "not compressed JSON"),
        (base64.b64encode(zlib.compress(b" " * (20 << 20))).decode(), "more than"),
    ],
    ids=["not-base64", "not-zlib", "not-json", "zip-bomb"],
)
def test_a_bad_packed_value_is_refused_saying_why(packed: str, words: str) -> None:
    value = pending_value()
    del value["events"]
    with pytest.raises(PendingError) as raised:
        PendingRun.from_value({**value, PACKED_EVENTS: packed})
    assert words in str(raised.value)


def test_a_compact_run_writes_the_same_file() -> None:
    run = PendingRun.from_value(pending_value())
    slim = run.compact()
    assert slim.events == () and slim.content() == run.content()
    assert (slim.run_id, slim.path) == (run.run_id, run.path)
