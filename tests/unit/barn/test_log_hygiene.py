"""Raft's append rule that pysyncobj skips: matching entries are never truncated.

pysyncobj deletes every entry after ``prevLogIdx`` whenever its log is longer -- also
when a re-sent batch carries entries the follower already has. The transport trims
such messages first (see runink.barn.transport._trim_known_entries).
"""

from __future__ import annotations

from pathlib import Path

from runink.barn.journal import DurableJournal
from runink.barn.transport import _trim_known_entries


def journal_with(tmp_path: Path, terms: list[int]) -> DurableJournal:
    j = DurableJournal(tmp_path / "raft.journal")
    for idx, term in enumerate(terms, start=1):
        j.add(b"\x00e%d" % idx, idx, term)
    j.sync()
    return j


def ae(prev: int, prev_term: int, entries: list[tuple[int, int]]) -> dict[str, object]:
    return {
        "type": "append_entries",
        "term": 2,
        "commit_index": 3,
        "prevLogIdx": prev,
        "prevLogTerm": prev_term,
        "entries": [(b"\x00e%d" % i, i, t) for i, t in entries],
    }


def test_stale_duplicate_is_dropped(tmp_path: Path) -> None:
    j = journal_with(tmp_path, [0, 1, 1, 2, 2])
    assert _trim_known_entries(j, ae(2, 1, [(3, 1), (4, 2)])) is None


def test_overlap_is_trimmed_to_the_new_entries(tmp_path: Path) -> None:
    j = journal_with(tmp_path, [0, 1, 1, 2, 2])
    trimmed = _trim_known_entries(j, ae(2, 1, [(3, 1), (4, 2), (5, 2), (6, 2)]))
    assert trimmed is not None
    assert trimmed["prevLogIdx"] == 5 and trimmed["prevLogTerm"] == 2
    assert [e[1] for e in trimmed["entries"]] == [6]  # type: ignore[union-attr]


def test_real_conflict_still_truncates(tmp_path: Path) -> None:
    j = journal_with(tmp_path, [0, 1, 1, 1, 1])
    trimmed = _trim_known_entries(j, ae(2, 1, [(3, 1), (4, 2)]))
    assert trimmed is not None
    # entry 3 matches, entry 4 conflicts (term 2 vs 1): pysyncobj truncates from 4
    assert trimmed["prevLogIdx"] == 3 and [e[1] for e in trimmed["entries"]] == [4]  # type: ignore[union-attr]


def test_heartbeats_and_normal_appends_pass_unchanged(tmp_path: Path) -> None:
    j = journal_with(tmp_path, [0, 1, 1])
    normal = ae(3, 1, [(4, 2)])
    assert _trim_known_entries(j, normal) is normal
    heartbeat = ae(2, 1, [])
    assert _trim_known_entries(j, heartbeat) is heartbeat
    mismatch = ae(2, 5, [(3, 5)])
    assert _trim_known_entries(j, mismatch) is mismatch  # pysyncobj rejects it
