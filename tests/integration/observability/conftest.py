"""A real control plane on an example repository, and its /metrics scraped with the token."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.embedded import embedded_config
from reconciler.server import ControlPlane
from tests.conftest import commit_all


def scrape(plane: ControlPlane) -> str:
    """The text of the server's /metrics, fetched with its bearer token."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{plane.http_port}/metrics",
        headers={"Authorization": f"Bearer {plane.config.metrics_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return str(reply.read().decode())


@pytest.fixture
def plane(tmp_path: Path, example_repo: Path) -> Iterator[ControlPlane]:
    """A started ControlPlane whose source is a git copy of example-repo (stopped after)."""
    commit_all(example_repo, "initial")
    server = ControlPlane(embedded_config(tmp_path / "state", example_repo, resync=3600))
    try:
        server.start()
        yield server
    finally:
        server.stop()
