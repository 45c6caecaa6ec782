"""Fixtures: a real one-member Barn on 127.0.0.1, killed on teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runink.barn import RemoteBarn
from tests.integration.barn.harness import Cluster


@pytest.fixture
def barn(tmp_path: Path) -> Iterator[RemoteBarn]:
    (tmp_path / "barn").mkdir()
    cluster = Cluster(tmp_path / "barn", size=1)
    try:
        cluster.start_all()
        cluster.wait_leader()
        client = cluster.client()
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()
