"""Fixtures of the lineage tests: a signing key and a pipeline repository trusting it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lineage.harness import keypair, pipeline_repo


@pytest.fixture
def key(tmp_path: Path) -> Path:
    """A fresh SSH key that signs lineage commits."""
    return keypair(tmp_path, "lineage")


@pytest.fixture
def repo(tmp_path: Path, key: Path) -> Path:
    """A pipeline repository whose allowed signers trust ``key``."""
    return pipeline_repo(tmp_path, key)
