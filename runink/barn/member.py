"""Run one Barn member as a process: Raft port + client port until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from runink.barn.config import BarnConfig
from runink.barn.node import BarnNode
from runink.barn.server import RequestServer

logger = logging.getLogger(__name__)

#: GIL switch interval for member processes (seconds); see serve().
SWITCH_INTERVAL = 0.0005


class Member:
    """A running member: the Raft node and its client request server."""

    def __init__(self, config: BarnConfig) -> None:
        self.config = config
        self.node = BarnNode(config)
        try:
            self.server = RequestServer(self.node)
        except OSError:
            self.node.close()
            raise
        logger.info(
            "barn member %s serving raft on %s, clients on %s",
            config.name,
            config.me.raft_address,
            config.me.client_address,
        )

    def close(self) -> None:
        """Stop serving clients, then stop the Raft node (journal flushed)."""
        self.server.close()
        self.node.close()


def serve(config: BarnConfig) -> None:
    """Run a member in the foreground until SIGTERM or SIGINT."""
    # The Raft thread gives up the GIL at every syscall (fdatasync, send) and must
    # then wait for it while request threads run; the default 5 ms switch interval
    # turned each tick into several milliseconds of waiting (measured: 3.4k -> see
    # bench/results/barn.json). A member process is ours to tune.
    sys.setswitchinterval(SWITCH_INTERVAL)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    member = Member(config)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        member.close()
