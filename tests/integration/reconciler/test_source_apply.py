"""Source and apply on a real git repository and a real Barn: commits in, desired state out."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply import ApplyController
from reconciler.source import DesiredStates, SourceController, SourceSpec
from runink.api.records import SourceRecord
from runink.barn import RemoteBarn
from tests.conftest import commit_all

pytestmark = pytest.mark.timeout(120)


class Loop:
    """Source and apply wired as `runi server` wires them, driven one pass at a time."""

    def __init__(self, barn: RemoteBarn, repo: Path) -> None:
        self.barn = barn
        self.desired = DesiredStates()
        spec = SourceSpec("demo", repo, branch="main", poll_interval=60)
        self.source = SourceController(barn, [spec], self.desired)
        self.apply = ApplyController(barn, [spec], self.desired)

    def sync(self) -> None:
        self.source.reconcile("demo")
        self.apply.reconcile("demo")

    def pipelines(self) -> dict[str, tuple[str, int]]:
        """Pipeline key -> (revision, mod_revision)."""
        return {
            kv.key: (kv.value["revision"], kv.mod_revision)
            for kv in self.barn.range("/pipelines/").kvs
        }

    def source_record(self) -> SourceRecord:
        kv = self.barn.get("/sources/demo")
        assert kv is not None
        return SourceRecord.from_dict(kv.value)


def ready(record: SourceRecord) -> tuple[str, str, str]:
    c = next(c for c in record.conditions if c.type == "Ready")
    return c.status, c.reason, c.message


def test_a_valid_commit_is_applied_with_its_revision(barn: RemoteBarn, example_repo: Path) -> None:
    sha = commit_all(example_repo)
    loop = Loop(barn, example_repo)
    loop.sync()
    revision = f"main@sha1:{sha}"
    pipelines = loop.pipelines()
    assert "/pipelines/finance/trades/validate-trades" in pipelines
    assert {rev for rev, _ in pipelines.values()} == {revision}
    assert {kv.key for kv in barn.range("/herds/").kvs} == {"/herds/finance", "/herds/ecommerce"}
    record = loop.source_record()
    assert record.applied_revision == revision and ready(record)[:2] == ("True", "ApplySucceeded")


def test_invalid_commit_keeps_last_good_revision_applied_and_says_where(
    barn: RemoteBarn, example_repo: Path
) -> None:
    good = commit_all(example_repo)
    loop = Loop(barn, example_repo)
    loop.sync()
    before = loop.pipelines()
    feature = example_repo / "features/orders.dsl"
    feature.write_text(feature.read_text().replace("@source(", "@sourse(", 1))
    bad = commit_all(example_repo, "typo")
    result = loop.source.reconcile("demo")
    loop.apply.reconcile("demo")
    assert result.error is not None and result.error.reason == "ValidationFailed"
    assert loop.pipelines() == before  # nothing that runs changed, not even a revision
    record = loop.source_record()
    status, reason, message = ready(record)
    assert (status, reason) == ("False", "ValidationFailed")
    assert "features/orders.dsl:" in message and "sourse" in message
    assert record.applied_revision == f"main@sha1:{good}"
    assert record.fetched_revision == f"main@sha1:{bad}"
    # A resync of apply does not paper over the failure.
    loop.apply.reconcile("demo")
    assert ready(loop.source_record())[:2] == ("False", "ValidationFailed")
    # Fixing it applies the fix.
    feature.write_text(feature.read_text().replace("@sourse(", "@source(", 1))
    fixed = commit_all(example_repo, "fix")
    loop.sync()
    record = loop.source_record()
    assert ready(record)[0] == "True" and record.applied_revision == f"main@sha1:{fixed}"


def test_a_push_writes_only_the_pipelines_it_changed(barn: RemoteBarn, example_repo: Path) -> None:
    commit_all(example_repo)
    loop = Loop(barn, example_repo)
    loop.sync()
    before = loop.pipelines()
    feature = example_repo / "features/orders.dsl"
    feature.write_text("# a comment changes no Plan\n" + feature.read_text())
    commit_all(example_repo, "comment")
    loop.sync()
    assert loop.pipelines() == before
    trades = example_repo / "features/trades.dsl"
    trades.write_text(trades.read_text().replace('cpu="500m"', 'cpu="750m"', 1))
    sha = commit_all(example_repo, "more cpu")
    loop.sync()
    after = loop.pipelines()
    moved = {k for k in after if after[k] != before[k]}
    assert moved and all(k.startswith("/pipelines/finance/trades/") for k in moved)
    assert all(after[k][0] == f"main@sha1:{sha}" for k in moved)


def test_a_removed_feature_is_pruned(barn: RemoteBarn, example_repo: Path) -> None:
    commit_all(example_repo)
    loop = Loop(barn, example_repo)
    loop.sync()
    assert any(k.startswith("/pipelines/ecommerce/customers/") for k in loop.pipelines())
    (example_repo / "features/customers.dsl").unlink()
    commit_all(example_repo, "drop customers")
    loop.sync()
    assert not any(k.startswith("/pipelines/ecommerce/customers/") for k in loop.pipelines())
    assert "pruned" in ready(loop.source_record())[2]


def _stored(barn: RemoteBarn) -> dict[str, dict[str, object]]:
    """What Barn holds for the pipelines, revision aside."""
    return {
        kv.key: {k: v for k, v in kv.value.items() if k != "revision"}
        for kv in barn.range("/pipelines/").kvs
    }


def test_pushes_applied_by_difference_leave_barn_as_a_full_apply_would(
    barn: RemoteBarn, example_repo: Path
) -> None:
    commit_all(example_repo)
    loop = Loop(barn, example_repo)
    loop.sync()
    orders = example_repo / "features/orders.dsl"
    orders.write_text(orders.read_text().replace("dlq_ratio=0.05", "dlq_ratio=0.02"))
    commit_all(example_repo, "tighter slo")
    loop.sync()
    (example_repo / "features/customers.dsl").rename(example_repo / "features/people.dsl")
    commit_all(example_repo, "rename a feature")
    loop.sync()
    by_difference = _stored(barn)
    assert any(k.startswith("/pipelines/ecommerce/people/") for k in by_difference)
    assert not any(k.startswith("/pipelines/ecommerce/customers/") for k in by_difference)
    # A controller with no memory of what it wrote compares Barn in full: nothing to do.
    fresh = ApplyController(barn, [SourceSpec("demo", example_repo)], loop.desired)
    revision_before = barn.range("/pipelines/").revision
    fresh.reconcile("demo")
    assert _stored(barn) == by_difference
    assert barn.range("/pipelines/").revision == revision_before


def test_a_pipeline_deleted_by_hand_is_written_again_at_the_next_full_comparison(
    barn: RemoteBarn, example_repo: Path
) -> None:
    commit_all(example_repo)
    loop = Loop(barn, example_repo)
    loop.sync()
    key = "/pipelines/finance/trades/validate-trades"
    barn.delete(key)
    loop.apply.full_every = 0.0  # the periodic full comparison is due
    loop.apply.reconcile("demo")
    assert barn.get(key) is not None
