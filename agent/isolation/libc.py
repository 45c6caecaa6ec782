"""The few Linux system calls Python 3.11 lacks (unshare, setns, mount, ...), via ctypes.

Call these only in a single-threaded process: the forkserver or its children.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NAMESPACE_FLAGS = {
    "mnt": CLONE_NEWNS,
    "pid": CLONE_NEWPID,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "net": CLONE_NEWNET,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
}

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38

_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPGET = 125
_SYS_CAPSET = 126

# Capabilities a slice never needs and could use to escape its confinement: reconfigure
# its network namespace, mount, load modules, trace other processes, raw sockets.
DROPPED_CAPABILITIES = (
    12,  # CAP_NET_ADMIN
    13,  # CAP_NET_RAW
    16,  # CAP_SYS_MODULE
    17,  # CAP_SYS_RAWIO
    19,  # CAP_SYS_PTRACE
    21,  # CAP_SYS_ADMIN
    22,  # CAP_SYS_BOOT
    25,  # CAP_SYS_TIME
    27,  # CAP_MKNOD
)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces of the kinds in ``flags``."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    """Join the namespace ``fd`` refers to."""
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """mount(2); ``source`` and ``fstype`` may be None (remounts, propagation changes)."""
    result = _libc.mount(
        source.encode() if source is not None else None,
        target.encode(),
        fstype.encode() if fstype is not None else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(result, f"mount {target}")


def umount(target: str, flags: int = MNT_DETACH) -> None:
    """umount2(2), lazily by default."""
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def sethostname(name: str) -> None:
    """Set the hostname of the calling process's UTS namespace."""
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def prctl(option: int, arg: int) -> None:
    """prctl(2) with one argument."""
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def drop_capabilities(capabilities: tuple[int, ...]) -> None:
    """Remove ``capabilities`` from the bounding set and the effective/permitted sets."""
    for cap in capabilities:
        prctl(PR_CAPBSET_DROP, cap)
    header = ctypes.create_string_buffer(struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0))
    data = ctypes.create_string_buffer(24)
    _check(_libc.syscall(_SYS_CAPGET, header, data), "capget")
    words = list(struct.unpack("6I", data.raw))  # (effective, permitted, inheritable) x 2
    for cap in capabilities:
        word, bit = divmod(cap, 32)
        for kind in range(3):
            words[word * 3 + kind] &= ~(1 << bit)
    data = ctypes.create_string_buffer(struct.pack("6I", *words))
    _check(_libc.syscall(_SYS_CAPSET, header, data), "capset")
