"""A Raft journal that is on disk before anything that depends on it leaves the member.

pysyncobj's ``FileJournal`` writes through ``mmap`` and never calls ``msync``: an
entry a follower acknowledged, or one the leader counted towards a majority, may exist
only in the page cache and vanish on power loss. :class:`DurableJournal` keeps the same
interface but buffers appended records and writes + ``fdatasync``\\ s them in one go
when :meth:`sync` is called. Barn calls it once per event-loop tick, before sending
any message (group commit): one fsync covers every entry added during the tick.

Record format: ``u32 length | u32 crc32 | u64 index | u64 term | command``; a torn or
corrupt tail (a crash mid-write) is cut off on open.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Any, overload

import orjson
from pysyncobj.journal import Journal  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

HEADER = b"RNKBJNL1"
_RECORD = struct.Struct("<IIQQ")
Entry = tuple[bytes, int, int]


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (tmp, fsync, rename, fsync dir)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    fsync_dir(path.parent)


def _encode(command: bytes, idx: int, term: int) -> bytes:
    crc = zlib.crc32(command, zlib.crc32(struct.pack("<QQ", idx, term)))
    return _RECORD.pack(16 + len(command), crc, idx, term) + command


class DurableJournal(Journal):  # type: ignore[misc]
    """pysyncobj ``Journal`` with explicit, batched durability (see module docstring)."""

    def __init__(self, path: Path, dump_path: Path | None = None) -> None:
        self._path = path
        self._dump_path = dump_path
        self._meta_path = path.with_name(path.name + ".meta")
        self._entries: list[Entry] = []
        self._offsets: list[int] = []
        self._pending = bytearray()
        self._dirty = False
        self.durable_index = 0
        self.syncs = 0
        self._meta: dict[str, Any] = {}
        if self._meta_path.exists():
            self._meta = orjson.loads(self._meta_path.read_bytes())
        self._fd = self._open_and_scan()
        self.durable_index = self._entries[-1][1] if self._entries else 0

    def _open_and_scan(self) -> int:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        data = b""
        size = os.fstat(fd).st_size
        if size:
            data = os.pread(fd, size, 0)
        if not data.startswith(HEADER):
            if data:
                raise RuntimeError(f"{self._path} is not a Barn journal")
            os.pwrite(fd, HEADER, 0)
            os.fsync(fd)
            fsync_dir(self._path.parent)
            data = HEADER
        offset = len(HEADER)
        while offset + _RECORD.size <= len(data):
            length, crc, idx, term = _RECORD.unpack_from(data, offset)
            end = offset + 8 + length
            if length < 16 or end > len(data):
                break
            command = bytes(data[offset + _RECORD.size : end])
            if zlib.crc32(command, zlib.crc32(struct.pack("<QQ", idx, term))) != crc:
                break
            self._entries.append((command, idx, term))
            self._offsets.append(offset)
            offset = end
        if offset < len(data):
            logger.warning(
                "journal %s: cutting a torn tail of %d bytes", self._path, len(data) - offset
            )
            os.ftruncate(fd, offset)
            os.fsync(fd)
        self._written_end = offset
        return fd

    # pysyncobj's Journal interface -------------------------------------------------

    def add(self, command: bytes, idx: int, term: int) -> None:
        record = _encode(bytes(command), idx, term)
        self._offsets.append(self._written_end + len(self._pending))
        self._pending += record
        self._entries.append((bytes(command), idx, term))
        self._dirty = True

    def clear(self) -> None:
        # Called when a snapshot replaces the log: the snapshot must be durable
        # before the entries it replaces are dropped.
        self._sync_dump()
        self._entries = []
        self._offsets = []
        self._pending.clear()
        os.ftruncate(self._fd, len(HEADER))
        self._written_end = len(HEADER)
        self._dirty = True

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        if entryFrom >= len(self._entries):
            return
        cut = self._offsets[entryFrom]
        del self._entries[entryFrom:]
        del self._offsets[entryFrom:]
        if cut >= self._written_end:
            del self._pending[cut - self._written_end :]
        else:
            self._pending.clear()
            os.ftruncate(self._fd, cut)
            self._written_end = cut
        self._dirty = True
        self.durable_index = min(self.durable_index, self._entries[-1][1] if self._entries else 0)

    def deleteEntriesTo(self, entryTo: int) -> None:
        # Log compaction after a snapshot: rewrite the kept tail into a new file.
        self._sync_dump()
        kept = self._entries[entryTo:]
        tmp = self._path.with_name(self._path.name + ".tmp")
        blob = bytearray(HEADER)
        offsets = []
        for command, idx, term in kept:
            offsets.append(len(blob))
            blob += _encode(command, idx, term)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, bytes(blob))
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self._path)
        fsync_dir(self._path.parent)
        os.close(self._fd)
        self._fd = os.open(self._path, os.O_RDWR)
        self._entries = list(kept)
        self._offsets = offsets
        self._pending.clear()
        self._written_end = len(blob)
        self._dirty = False
        self.durable_index = kept[-1][1] if kept else 0

    @overload
    def __getitem__(self, item: int) -> Entry: ...

    @overload
    def __getitem__(self, item: slice) -> list[Entry]: ...

    def __getitem__(self, item: int | slice) -> Entry | list[Entry]:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self.sync()
        self._store_meta(durable=True)
        os.close(self._fd)

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        # A hint only (Raft recomputes it), so it is saved lazily, once a second.
        self._meta["commit_index"] = raftCommitIndex

    def getRaftCommitIndex(self) -> int:
        # Never claim more than what is in the log we actually have.
        last = self._entries[-1][1] if self._entries else 1
        return int(min(self._meta.get("commit_index", 1), last))

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        # Raft: term and vote are durable before any message reflecting them is sent.
        self._meta["term"] = term
        self._meta["voted_for"] = votedForNodeId
        self._store_meta(durable=True)

    def getCurrentTerm(self) -> int:
        return int(self._meta.get("term", 0))

    def getVotedForNodeId(self) -> str | None:
        voted = self._meta.get("voted_for")
        return None if voted is None else str(voted)

    def onOneSecondTimer(self) -> None:
        self._store_meta(durable=False)

    # Barn's additions ---------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Whether some entry or truncation is not yet on disk."""
        return self._dirty

    def sync(self) -> None:
        """Write buffered records and fdatasync them (group commit point)."""
        if not self._dirty:
            return
        if self._pending:
            os.pwrite(self._fd, bytes(self._pending), self._written_end)
            self._written_end += len(self._pending)
            self._pending.clear()
        os.fdatasync(self._fd)
        self.syncs += 1
        self._dirty = False
        self.durable_index = self._entries[-1][1] if self._entries else 0

    def _store_meta(self, durable: bool) -> None:
        data = orjson.dumps(self._meta)
        if durable:
            write_durably(self._meta_path, data)
        else:
            tmp = self._meta_path.with_name(self._meta_path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(self._meta_path)

    def _sync_dump(self) -> None:
        if self._dump_path is not None and self._dump_path.exists():
            fd = os.open(self._dump_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self._dump_path.parent)
