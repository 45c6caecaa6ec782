"""Checkouts: the commits an agent runs, materialised from a local repository or a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.checkout import CheckoutError, Checkouts
from tests.conftest import commit_all

pytestmark = pytest.mark.timeout(120)


def test_a_url_repository_is_mirrored_without_its_url_and_follows_new_commits(
    example_repo: Path, tmp_path: Path
) -> None:
    first = commit_all(example_repo, "first")
    checkouts = Checkouts(example_repo.as_uri(), tmp_path / "agent")
    checkout = checkouts.get(f"main@sha1:{first}")
    assert (checkout.path / "features/orders.dsl").is_file()
    assert checkout.snapshot.ok and checkout.herd("finance") is not None
    feature = example_repo / "features/orders.dsl"
    feature.write_text(feature.read_text().replace("dlq_ratio=0.05", "dlq_ratio=0.02"))
    second = commit_all(example_repo, "second")
    later = checkouts.get(f"main@sha1:{second}")  # not in the mirror yet: fetched
    assert "dlq_ratio=0.02" in (later.path / "features/orders.dsl").read_text()
    assert later.snapshot.ok
    config = (tmp_path / "agent" / "mirror.git" / "config").read_text()
    assert example_repo.as_uri() not in config  # a URL may carry a credential


def test_a_commit_the_remote_does_not_have_is_a_checkout_error(
    example_repo: Path, tmp_path: Path
) -> None:
    commit_all(example_repo, "first")
    checkouts = Checkouts(example_repo.as_uri(), tmp_path / "agent")
    with pytest.raises(CheckoutError):
        checkouts.get("main@sha1:" + "0" * 40)
    assert not list((tmp_path / "agent" / "checkouts").glob("0000*"))  # nothing half-made
