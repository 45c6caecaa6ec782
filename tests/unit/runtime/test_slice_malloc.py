"""A slice keeps its heap: batches do not go back and forth to the kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from runink.runtime.slice import settle_malloc

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    if sys.argv[1] == "settled":
        assert settle_malloc()
    block = libc.malloc(8 << 20)  # a batch's worth of memory, and more
    mapped = libc.mallinfo2().hblkhd  # bytes in blocks of their own (mmap)
    libc.free(block)
    kept = libc.mallinfo2().arena  # heap still held after the free
    print(mapped, kept)
    """
)


def probe(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_settled_slice_takes_big_blocks_from_its_heap_and_keeps_them() -> None:
    # glibc's defaults: an 8 MiB block is mapped on its own and unmapped on free.
    mapped, _ = probe("default")
    assert mapped >= 8 << 20
    # Settled (what every slice does first, also when forked warm without an exec):
    # the block comes from the heap, and freeing it does not shrink the heap.
    mapped, kept = probe("settled")
    assert mapped < 8 << 20 and kept >= 8 << 20
