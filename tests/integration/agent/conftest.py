"""Fixtures: a fleet (API server, Barn, example repo) torn down even when a test fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.agent.harness import STREAM_FEATURE, Fleet


@pytest.fixture
def fleet(tmp_path: Path, example_repo: Path) -> Iterator[Fleet]:
    (example_repo / "features/events.dsl").write_text(STREAM_FEATURE)
    f = Fleet(tmp_path, example_repo)
    try:
        yield f
    finally:
        f.close()
