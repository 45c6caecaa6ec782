"""Reading a repository into a RepoSnapshot, from a directory or a git commit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runink.findings import RuninkError
from runink.repo import load_repo
from tests.conftest import commit_all, git


def test_example_repo_is_clean_and_complete(example_repo: Path) -> None:
    snapshot = load_repo(example_repo)
    assert [str(f) for f in snapshot.findings] == []
    assert snapshot.settings is not None and snapshot.settings.default_herd == "finance"
    assert sorted(h.name for h in snapshot.herds) == ["ecommerce", "finance"]
    assert {"trade_raw", "trade", "customer", "order"} <= {c.id for c in snapshot.contracts}
    assert len(snapshot.features) >= 3 and snapshot.steps and len(snapshot.golden) == 2
    finance = snapshot.herd("finance")
    assert finance is not None
    assert finance.quota.cpu_millis == 2000 and finance.quota.memory_bytes == 4 * 2**30
    assert finance.permissions(("alice@example.com",)) >= {r for r in finance.roles["operator"]}
    trade = snapshot.contract("trade")
    assert trade is not None and trade.major_version == 2
    assert trade.fields()["notional"] == "number"
    assert [p.name for p in trade.schemas[0].properties if p.sensitive] == ["trader_email"]


def test_each_entry_keeps_its_path_and_git_blob_sha(example_repo: Path) -> None:
    sha = commit_all(example_repo)
    from_dir = load_repo(example_repo)
    from_commit = load_repo(example_repo, rev=sha)
    assert from_commit.revision == sha and from_dir.revision is None
    assert from_dir.files == from_commit.files
    for path, blob in from_dir.files.items():
        assert git(example_repo, "rev-parse", f"HEAD:{path}") == blob
    herd = from_commit.herd("finance")
    assert herd is not None and herd.sha == from_commit.files["herds/finance.yaml"]


def test_commit_is_read_without_touching_the_work_tree(example_repo: Path) -> None:
    first = commit_all(example_repo)
    (example_repo / "herds/finance.yaml").write_text("not: [valid")
    assert load_repo(example_repo, rev=first).ok
    assert not load_repo(example_repo).ok
    assert git(example_repo, "status", "--porcelain") == "M herds/finance.yaml"


def test_pipeline_repo_in_a_subdirectory_of_a_git_repo(tmp_path: Path) -> None:
    outer = tmp_path / "mono"
    shutil.copytree(Path(__file__).parents[3] / "example-repo", outer / "pipelines")
    sha = commit_all(outer)
    snapshot = load_repo(outer / "pipelines", rev=sha)
    assert snapshot.ok and snapshot.settings is not None
    assert "herds/finance.yaml" in snapshot.files


def test_unknown_revision_is_a_positioned_error(example_repo: Path) -> None:
    commit_all(example_repo)
    with pytest.raises(RuninkError) as raised:
        load_repo(example_repo, rev="no-such-branch")
    assert raised.value.findings[0].code == "repo.unknown-revision"


def test_missing_runink_yaml_is_reported(example_repo: Path) -> None:
    (example_repo / "runink.yaml").unlink()
    codes = [f.code for f in load_repo(example_repo).findings]
    assert codes == ["repo.missing-settings"]


def test_missing_allowed_signers_file_points_at_runink_yaml(example_repo: Path) -> None:
    (example_repo / ".runink/allowed_signers").unlink()
    findings = load_repo(example_repo).findings.items
    assert [(f.code, f.file, f.line) for f in findings] == [
        ("repo.missing-file", "runink.yaml", 13)
    ]


def test_verify_signed_requires_allowed_signers(example_repo: Path) -> None:
    text = (example_repo / "runink.yaml").read_text()
    text = text.replace("mode: none", "mode: signed").replace(
        "  allowedSigners: .runink/allowed_signers\n", ""
    )
    (example_repo / "runink.yaml").write_text(text)
    assert [f.code for f in load_repo(example_repo).findings] == ["repo.missing-signers"]


def test_files_runink_does_not_read_are_ignored(example_repo: Path) -> None:
    (example_repo / "README.md").write_text("# notes")
    (example_repo / "herds/notes.txt").write_text("{{ not yaml")
    assert load_repo(example_repo).ok
