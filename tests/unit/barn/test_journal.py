"""DurableJournal: what is synced survives a reopen; torn tails are cut; meta is durable."""

from __future__ import annotations

import inspect
from pathlib import Path

import pysyncobj.journal
import pysyncobj.syncobj

from runink.barn.journal import HEADER, DurableJournal


def test_entries_survive_reopen_only_after_sync(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    j = DurableJournal(path)
    j.add(b"\x01", 1, 0)
    j.add(b"\x00cmd-2", 2, 1)
    assert j.dirty and j.durable_index == 0
    # Before sync nothing past the header has reached the file (group commit buffer).
    assert path.read_bytes() == HEADER
    j.sync()
    assert not j.dirty and j.durable_index == 2 and j.syncs == 1
    j.add(b"\x00cmd-3", 3, 1)
    j.sync()
    reopened = DurableJournal(path)
    assert list(reopened[:]) == [(b"\x01", 1, 0), (b"\x00cmd-2", 2, 1), (b"\x00cmd-3", 3, 1)]


def test_torn_tail_is_cut(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    j = DurableJournal(path)
    for i in range(1, 4):
        j.add(b"\x00" + bytes([i]) * 10, i, 1)
    j.sync()
    data = path.read_bytes()
    path.write_bytes(data[:-5])  # a crash in the middle of the last record
    reopened = DurableJournal(path)
    assert [e[1] for e in reopened[:]] == [1, 2]
    corrupt = bytearray(path.read_bytes())
    corrupt[-3] ^= 0xFF  # a flipped bit in the last record fails its CRC
    path.write_bytes(bytes(corrupt))
    assert [e[1] for e in DurableJournal(path)[:]] == [1]


def test_delete_from_and_to(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    j = DurableJournal(path)
    for i in range(1, 6):
        j.add(b"\x00%d" % i, i, 1)
    j.sync()
    j.add(b"\x006", 6, 2)
    j.deleteEntriesFrom(5)  # drops the unsynced 6th entry only
    assert [e[1] for e in j[:]] == [1, 2, 3, 4, 5]
    j.deleteEntriesFrom(3)  # truncates synced records
    j.add(b"\x00x", 4, 3)
    j.sync()
    assert [(e[1], e[2]) for e in DurableJournal(path)[:]] == [(1, 1), (2, 1), (3, 1), (4, 3)]
    j.deleteEntriesTo(2)  # compaction keeps the tail
    assert [e[1] for e in DurableJournal(path)[:]] == [3, 4]
    j.add(b"\x00y", 5, 3)
    j.sync()
    assert [e[1] for e in DurableJournal(path)[:]] == [3, 4, 5]


def test_term_and_vote_are_stored_at_once(tmp_path: Path) -> None:
    path = tmp_path / "raft.journal"
    j = DurableJournal(path)
    j.setCurrentTerm(7, "127.0.0.1:1")
    reopened = DurableJournal(path)
    assert reopened.getCurrentTerm() == 7 and reopened.getVotedForNodeId() == "127.0.0.1:1"


def test_raw_pysyncobj_journal_has_no_durability_point() -> None:
    """The gap this journal closes, shown on pysyncobj's own source: FileJournal.add
    writes into an mmap and nothing in SyncObj ever calls flush()/msync/fsync on the
    log, so an acknowledged entry may only be in the page cache. (The syscall-level
    proof on a running member is tests/integration/barn/test_durability.py.)"""
    add_source = inspect.getsource(pysyncobj.journal.FileJournal.add)
    assert "flush" not in add_source and "fsync" not in add_source
    syncobj_source = inspect.getsource(pysyncobj.syncobj)
    assert ".flush()" not in syncobj_source and "fsync" not in syncobj_source
