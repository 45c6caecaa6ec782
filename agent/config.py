"""What a node agent is told: where the server is, who it is, what it runs from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runink.api.pki import CA_CERT


@dataclass(frozen=True)
class AgentConfig:
    """One node agent's settings (``runi agent`` flags; ``runi up`` builds one in process).

    ``repo`` is the pipeline repository: a local path or a git URL; commits are read
    from it, never its work tree. ``data_dir`` holds checkouts, run state and each
    herd's data (``<data_dir>/<herd>/``: where relative source and sink paths resolve).
    """

    server: str
    pki_dir: Path
    node: str
    repo: str
    data_dir: Path
    labels: Mapping[str, str] = field(default_factory=dict)
    #: ``/metrics`` port (None: no HTTP endpoint).
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    #: Bearer token Prometheus must present on ``/metrics`` (every port is authenticated).
    metrics_token: str = field(default="", repr=False)
    lease_ttl: int = 10
    #: Seconds between level-triggered passes when nothing changed.
    resync_seconds: float = 3.0
    #: Restart backoff of a failed run: initial delay, doubled per failure, capped.
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    #: Debugging only: slices as plain processes (no cgroups, namespaces or secrets).
    isolation: bool = True
    #: Copy the repository's ``data/`` into a herd's data dir once (demos, examples).
    seed_data: bool = False

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / CA_CERT

    @property
    def cert_file(self) -> Path:
        return self.pki_dir / f"agent-{self.node}.crt"

    @property
    def key_file(self) -> Path:
        return self.pki_dir / f"agent-{self.node}.key"
