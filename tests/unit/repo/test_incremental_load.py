"""RepoLoader: each commit after the first costs what changed, and reads exactly as a full load.

Every step below commits one kind of change to a real git repository; after each, the
loader's incremental snapshot must equal a snapshot read from scratch, and the compiler
fed those snapshots must produce what a fresh compiler produces.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runink.compiler import Compiler
from runink.repo import RepoLoader, RepoSnapshot, load_repo
from tests.conftest import commit_all

Edit = Callable[[Path], None]


def _replace(rel: str, old: str, new: str) -> Edit:
    def edit(repo: Path) -> None:
        path = repo / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1))

    return edit


def _write(rel: str, text: str) -> Edit:
    def edit(repo: Path) -> None:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)

    return edit


def _remove(rel: str) -> Edit:
    return lambda repo: (repo / rel).unlink()


def _copy(source: str, target: str, old: str = "", new: str = "") -> Edit:
    def edit(repo: Path) -> None:
        text = (repo / source).read_text()
        (repo / target).write_text(text.replace(old, new) if old else text)

    return edit


def _link(rel: str, target: str) -> Edit:
    return lambda repo: os.symlink(target, repo / rel)


STEPS: list[tuple[str, Edit]] = [
    ("edit a feature", _replace("features/orders.dsl", "dlq_ratio=0.05", "dlq_ratio=0.02")),
    ("add a feature", _copy("features/orders.dsl", "features/orders2.dsl")),
    ("break a feature", _write("features/orders2.dsl", "Feature: broken\n  Scenario:\n")),
    ("fix it", _copy("features/orders.dsl", "features/orders2.dsl")),
    ("remove it", _remove("features/orders2.dsl")),
    ("edit a contract", _replace("contracts/customer.yaml", "version: 1.3.0", "version: 1.4.0")),
    ("break a herd", _write("herds/finance.yaml", "kind: [unclosed\n")),
    ("fix the herd", lambda repo: None),  # restored below from the first commit
    ("a file Runink does not read", _write("README.md", "hello\n")),
    ("a bad golden line", _write("golden/orders/extra/input.jsonl", "{not json\n")),
    ("a golden file gone", _remove("golden/orders/extra/input.jsonl")),
    ("a duplicate contract id", _copy("contracts/order.yaml", "contracts/order_copy.yaml")),
    ("duplicate removed", _remove("contracts/order_copy.yaml")),
    ("a symlinked feature (read in full)", _link("features/linked.dsl", "customers.dsl")),
    ("the link's target edited", _replace("features/customers.dsl", "Feature:", "Feature: ")),
    ("the link removed", _remove("features/linked.dsl")),
    ("settings removed", _remove("runink.yaml")),
    ("settings back", lambda repo: None),  # restored below from the first commit
    ("two features edited at once", _replace("features/trades.dsl", "Feature:", "Feature:  ")),
]


def _comparable(snapshot: RepoSnapshot) -> RepoSnapshot:
    from dataclasses import replace

    return replace(snapshot, changes=None)


@pytest.mark.timeout(120)
def test_every_incremental_load_equals_a_full_load_and_compiles_the_same(
    example_repo: Path,
) -> None:
    first = commit_all(example_repo, "start")
    originals = {
        rel: (example_repo / rel).read_text() for rel in ("herds/finance.yaml", "runink.yaml")
    }
    loader, compiler = RepoLoader(), Compiler()
    try:
        loader.load(example_repo, first)
        compiler.compile(loader.load(example_repo, first))
        incremental_steps = 0
        for what, edit in STEPS:
            edit(example_repo)
            if what == "fix the herd":
                (example_repo / "herds/finance.yaml").write_text(originals["herds/finance.yaml"])
            if what == "settings back":
                (example_repo / "runink.yaml").write_text(originals["runink.yaml"])
            if what == "two features edited at once":
                _replace("features/customers.dsl", "Feature: ", "Feature:")(example_repo)
            sha = commit_all(example_repo, what)
            got = loader.load(example_repo, sha)
            full = load_repo(example_repo, rev=sha)
            assert _comparable(got) == full, what
            if got.changes is not None:
                incremental_steps += 1
            compiled = compiler.compile(got, revision=sha)
            fresh = Compiler().compile(full, revision=sha)
            # a reused Plan keeps the revision it last changed at: compare all but that
            assert [p.at_revision(sha).to_json() for p in compiled.plans] == [
                p.to_json() for p in fresh.plans
            ], what
            assert compiled.findings == fresh.findings, what
        # the symlink steps are read in full; the rest go by what changed
        assert incremental_steps >= len(STEPS) - 3
    finally:
        loader.close()


def test_a_push_that_changes_one_feature_reads_and_compiles_only_it(example_repo: Path) -> None:
    first = commit_all(example_repo, "start")
    loader, compiler = RepoLoader(), Compiler()
    try:
        compiler.compile(loader.load(example_repo, first))
        _replace("features/orders.dsl", "dlq_ratio=0.05", "dlq_ratio=0.02")(example_repo)
        (example_repo / "unrelated.txt").write_text("x\n")
        sha = commit_all(example_repo, "one feature")
        snapshot = loader.load(example_repo, sha)
        assert snapshot.changes is not None
        assert snapshot.changes.base == first
        assert snapshot.changes.paths == {"features/orders.dsl", "unrelated.txt"}
        result = compiler.compile(snapshot)
        assert (result.stats.compiled, result.stats.reused) == (1, 2)
    finally:
        loader.close()
