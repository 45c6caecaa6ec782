"""Framing through real pipes between real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runink.runtime.framing import (
    MAX_FRAME_BYTES,
    Batch,
    FrameReader,
    FrameWriter,
    FramingError,
    TruncatedStream,
    check_lines,
    decode_batch,
    encode_batch,
    set_pipe_size,
)

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from runink.runtime.framing import FrameWriter
    fd, batches, size, hang = (int(a) for a in sys.argv[1:5])
    writer = FrameWriter(fd)
    for b in range(batches):
        writer.write([{"batch": b, "i": i, "pad": "x" * size} for i in range(100)])
    if hang:
        time.sleep(60)  # killed by the test before it ends the stream
    writer.end()
    """
)


def spawn_writer(
    batches: int, size: int = 10, hang: bool = False
) -> tuple[int, subprocess.Popen[bytes]]:
    read_fd, write_fd = os.pipe()
    set_pipe_size(write_fd)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(write_fd), str(batches), str(size), str(int(hang))],
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    return read_fd, proc


def test_batches_cross_a_pipe_between_processes_in_order() -> None:
    read_fd, proc = spawn_writer(batches=50)
    try:
        reader = FrameReader(read_fd)
        seen = [(r["batch"], r["i"]) for batch in reader for r in batch]
    finally:
        proc.wait(timeout=30)
    assert seen == [(b, i) for b in range(50) for i in range(100)]
    assert reader.ended and reader.records == 5000


def test_a_writer_killed_mid_stream_is_detected_not_truncated_silently() -> None:
    read_fd, proc = spawn_writer(batches=3, hang=True)
    reader = FrameReader(read_fd)
    batches = reader.batches()
    try:
        got = [next(batches) for _ in range(3)]
        proc.send_signal(signal.SIGKILL)
        with pytest.raises(TruncatedStream, match="after 300 records"):
            next(batches)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert sum(len(b) for b in got) == 300


def test_a_10_mb_record_travels() -> None:
    read_fd, proc = spawn_writer(batches=1, size=10 * 1024 * 1024 // 100)
    try:
        records = [r for batch in FrameReader(read_fd) for r in batch]
    finally:
        proc.wait(timeout=60)
    assert len(records) == 100 and len(records[0]["pad"]) == 104857


def test_an_empty_stream_ends_cleanly() -> None:
    read_fd, write_fd = os.pipe()
    FrameWriter(write_fd).end()
    reader = FrameReader(read_fd)
    assert list(reader) == [] and reader.ended


def test_lost_frames_are_detected_by_the_end_count() -> None:
    read_fd, write_fd = os.pipe()
    writer = FrameWriter(write_fd)
    writer.write([{"a": 1}])
    writer.records += 1  # as if a frame went missing on the way
    writer.end()
    with pytest.raises(FramingError, match="sent 2 records, 1 arrived"):
        list(FrameReader(read_fd))


def test_a_frame_header_claiming_too_much_is_refused() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, bytes([1]) + (MAX_FRAME_BYTES + 1).to_bytes(4, "little"))
    os.close(write_fd)
    with pytest.raises(FramingError, match="exceeds"):
        list(FrameReader(read_fd))


def test_values_json_cannot_carry_are_an_error_naming_the_type() -> None:
    with pytest.raises(FramingError, match=r"cannot exchange .*: object"):
        encode_batch([{"a": object()}])
    assert decode_batch(encode_batch([{"d": Decimal("1.5")}])) == [{"d": 1.5}]


def test_pipe_is_enlarged() -> None:
    read_fd, write_fd = os.pipe()
    try:
        assert set_pipe_size(write_fd, 1024 * 1024) >= 1024 * 1024
    finally:
        os.close(read_fd)
        os.close(write_fd)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=10), JSON, max_size=6), max_size=20))
def test_any_json_records_round_trip(records: list[dict[str, Any]]) -> None:
    assert decode_batch(encode_batch(records)) == records


def test_merge_reads_several_writers_as_they_arrive() -> None:
    from runink.runtime.framing import merge

    (fd_a, proc_a), (fd_b, proc_b) = spawn_writer(batches=20), spawn_writer(batches=30)
    try:
        total = sum(len(batch) for batch in merge([fd_a, fd_b]))
    finally:
        proc_a.wait(timeout=30)
        proc_b.wait(timeout=30)
    assert total == 5000


def test_merge_detects_a_dead_writer() -> None:
    from runink.runtime.framing import merge

    fd_a, proc_a = spawn_writer(batches=2)
    fd_b, proc_b = spawn_writer(batches=1, hang=True)
    try:
        stream = merge([fd_a, fd_b])
        got = 0
        while got < 300:
            got += len(next(stream))
        proc_b.kill()
        with pytest.raises(TruncatedStream):
            for _ in stream:
                pass
    finally:
        proc_a.wait(timeout=30)
        proc_b.kill()
        proc_b.wait(timeout=30)


def test_a_selection_of_unchanged_records_keeps_their_original_lines() -> None:
    batch = Batch.of_payload(b'{"a": 1}\n{ "a" : 2 }\n{"a":3}')
    records = batch.records()
    assert batch.select(records) is batch
    assert batch.select([records[1]]).payload() == b'{ "a" : 2 }'
    changed = {**records[0], "b": True}  # a new record is encoded, not looked up
    assert batch.select([changed]).payload() == b'{"a":1,"b":true}'


def test_a_batch_line_that_is_not_an_object_is_a_framing_error() -> None:
    with pytest.raises(FramingError, match="not a JSON object"):
        Batch.of_payload(b'{"a": 1}\n[1, 2]').records()


def test_a_batch_whose_lines_disagree_with_its_record_count_is_a_framing_error() -> None:
    read_fd, write_fd = os.pipe()
    writer = FrameWriter(write_fd)
    writer.write(Batch(2, lines=[b'{"a": 1}']))  # says two records, carries one
    writer.end()
    (batch,) = FrameReader(read_fd)
    assert isinstance(batch, Batch) and batch.count == 2
    with pytest.raises(FramingError, match="1 records, 2 sent"):
        batch.records()


def test_records_needing_the_careful_encoder_travel_like_plain_ones() -> None:
    plain = [{"a": 1, "b": [1.5, "x"], "c": None}]
    odd = [{"d": Decimal("2.5"), "s": {3}, 4: "four"}]
    assert encode_batch(plain) == b'{"a":1,"b":[1.5,"x"],"c":null}'
    assert decode_batch(encode_batch(plain + odd)) == [*plain, {"d": 2.5, "s": [3], "4": "four"}]


def test_unchecked_lines_cross_a_pipe_and_are_checked_by_their_reader() -> None:
    lines = [b'{"n": 1}', b"{broken", b"", b'"a string"', b"  ", b'{"n": 7}']
    read_fd, write_fd = os.pipe()
    writer = FrameWriter(write_fd)
    writer.write(Batch.unchecked(lines, 41))
    writer.end()
    (batch,) = FrameReader(read_fd)
    assert isinstance(batch, Batch) and batch.count == 6 and batch.first_line == 41
    with pytest.raises(FramingError, match="check"):
        batch.records()  # nobody may take records a source did not check
    checked, rejected, blank = batch.check()
    assert checked.records() == [{"n": 1}, {"n": 7}] and checked.first_line is None
    assert checked.payload() == b'{"n": 1}\n{"n": 7}'  # the lines as read, not re-encoded
    assert [(r.raw, r.reason.split(":")[0]) for r in rejected] == [
        ("{broken", "line 42"),
        ('"a string"', "line 44"),
    ]
    assert "not JSON" in rejected[0].reason and "a JSON str" in rejected[1].reason
    assert blank == 2


def test_a_reader_checks_unchecked_lines_as_the_source_would() -> None:
    lines = [b'{"a": 1}', b"[1]", b"", b'{"b": 2}\r', b"nul"]
    sent = Batch.unchecked(lines, 1)
    assert (sent.count, sent.first_line) == (5, 1)
    read_fd, write_fd = os.pipe()
    writer = FrameWriter(write_fd)
    writer.write(sent)
    writer.end()
    (arrived,) = FrameReader(read_fd)
    assert isinstance(arrived, Batch)
    here, there = check_lines(lines, 1), arrived.check()
    assert here[0].records() == there[0].records() == [{"a": 1}, {"b": 2}]
    assert here[1:] == there[1:]


def test_a_too_large_unchecked_batch_splits_and_keeps_its_line_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import runink.runtime.framing as framing

    monkeypatch.setattr(framing, "MAX_FRAME_BYTES", 64)
    lines = [b'{"n": %d, "pad": "xxxxxxxx"}' % i for i in range(8)]
    lines[5] = b"{bad"
    read_fd, write_fd = os.pipe()
    writer = FrameWriter(write_fd)
    writer.write(Batch.unchecked(lines, 100))
    writer.end()
    frames = [b for b in FrameReader(read_fd) if isinstance(b, Batch)]
    assert len(frames) > 1 and sum(b.count for b in frames) == 8
    rejected = [r for b in frames for r in b.check()[1]]
    assert [r.reason.split(":")[0] for r in rejected] == ["line 105"]


def test_lines_that_only_parse_joined_together_are_rejected_one_by_one() -> None:
    # Joined into one array these three lines are three objects; none is one alone.
    lines = [b'{"a": [{"x": 1}', b'{"y": 2}]}', b'{"p": 1},{"q": 2}', b'{"ok": true}']
    batch, rejected, blank = check_lines(lines, 1)
    assert batch.records() == [{"ok": True}] and batch.payload() == b'{"ok": true}'
    assert [r.reason.split(":")[0] for r in rejected] == ["line 1", "line 2", "line 3"]
    assert blank == 0
