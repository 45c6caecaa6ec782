"""Fixtures: one seeded API server per test module (real Barn, real gRPC, real TLS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api.harness import ApiHarness


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    harness = ApiHarness(tmp_path_factory.mktemp("api"))
    try:
        yield harness
    finally:
        harness.close()
