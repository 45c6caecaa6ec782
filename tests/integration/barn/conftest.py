"""Fixtures: a 3-member Barn cluster of real processes, always killed on teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.barn.harness import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        c.start_all()
        c.wait_leader()
        yield c
    finally:
        c.close()
