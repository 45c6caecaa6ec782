"""Run the API server as a process: ``python -m runink.api --config api.yaml``.

With ``barn_mode: embedded`` (the default) the process also runs the Barn member its
config names; with ``remote`` it connects to a running cluster. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from runink.api.config import ApiConfigError, load_api_config
from runink.api.server import ApiServer, Store
from runink.barn import Barn, ConfigError, RemoteBarn, load_config


def main(argv: list[str] | None = None) -> int:
    """Serve until a signal; 2 with a one-line message if the config is wrong."""
    parser = argparse.ArgumentParser(prog="python -m runink.api")
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_api_config(args.config)
        barn_config = load_config(config.barn_config)
    except (ApiConfigError, ConfigError, OSError) as exc:
        print(f"runink api: {exc}", file=sys.stderr)
        return 2
    store: Store
    if config.barn_mode == "embedded":
        embedded = Barn(barn_config)
        embedded.wait_for_leader(30.0)
        store, closer = embedded, embedded.close
    else:
        remote = RemoteBarn.from_config(barn_config)
        store, closer = remote, remote.close
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = ApiServer(store, config.settings).start()
    print(f"runink api: serving on {server.address}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        closer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
