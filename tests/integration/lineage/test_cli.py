"""`runi lineage log|show|verify` in a clone: what a person auditing runs sees."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import orjson
import pytest

from runink.lineage.writer import LineageRepo, Signing
from tests.conftest import git
from tests.integration.lineage.harness import keypair, pending_run, pending_value, pipeline_repo
from tests.unit.cli.test_lint import runi

pytestmark = pytest.mark.timeout(120)
BRANCH = "runink/lineage"
REF = f"refs/heads/{BRANCH}"


@pytest.fixture
def repo(tmp_path: Path, key: Path) -> Path:
    repo = pipeline_repo(tmp_path, key)
    LineageRepo(repo, BRANCH).append([pending_run() for _ in range(3)], Signing("ssh", key))
    return repo


def lineage(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return runi("lineage", *args, "--repo", str(repo))


def commit_by_hand(
    repo: Path, edit: dict[str, bytes], message: str, key: Path | None = None
) -> str:
    """A commit on the lineage branch made with git, the way a person would."""
    env_index = repo / ".git" / "hand-index"
    base = ["git", "-c", "user.name=Mallory", "-c", "user.email=m@example.com"]
    run = lambda *a, **k: subprocess.run(  # noqa: E731
        [*base, *a], cwd=repo, check=True, capture_output=True, text=True, timeout=30,
        env={"GIT_INDEX_FILE": str(env_index), "PATH": "/usr/bin:/bin"}, **k,
    )  # fmt: skip
    run("read-tree", REF)
    for path, data in edit.items():
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data,
            capture_output=True, check=True, timeout=30,
        ).stdout.decode().strip()  # fmt: skip
        run("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = run("write-tree").stdout.strip()
    sign = ("-c", "gpg.format=ssh", "-c", f"user.signingKey={key}") if key else ()
    options = ("-S",) if key else ()
    sha = run(*sign, "commit-tree", *options, tree, "-p", REF, "-m", message).stdout.strip()
    git(repo, "update-ref", REF, sha)
    env_index.unlink(missing_ok=True)
    return sha


def test_log_lists_committed_runs_with_outcome_counts_and_signer(repo: Path) -> None:
    done = lineage(repo, "log", "-o", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 3
    row = rows[0]
    assert row["pipeline"] == "finance/trades/validate-trades" and row["outcome"] == "COMPLETE"
    assert row["records"] == {"in": 10, "out": 11, "dlq": 2}
    assert row["signed"] and row["signer"] == "lineage-0@runink.test"
    assert row["revision"].startswith("main@sha1:")
    text = lineage(repo, "log")
    assert row["run_id"] in text.stdout and "lineage-0@runink.test" in text.stdout
    assert json.loads(lineage(repo, "log", "--herd", "ecommerce", "-o", "json").stdout) == []
    by_dataset = lineage(repo, "log", "--dataset", "silver.trades", "-o", "json")
    assert len(json.loads(by_dataset.stdout)) == 3


def test_show_draws_the_runs_dataset_graph(repo: Path) -> None:
    run_id = json.loads(lineage(repo, "log", "-o", "json").stdout)[0]["run_id"]
    text = lineage(repo, "show", run_id)
    assert text.returncode == 0, text.stderr
    assert "START" in text.stdout and "COMPLETE" in text.stdout
    assert "contract trade@2.1.0" in text.stdout
    dot = lineage(repo, "show", run_id, "--format", "dot").stdout
    assert dot.startswith("digraph lineage") and "-> job" in dot and "job -> d" in dot
    mermaid = lineage(repo, "show", run_id, "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR") and "--> job" in mermaid
    missing = lineage(repo, "show", "0190aaaa-0000-7000-8000-000000000000")
    assert missing.returncode == 2 and "no run" in missing.stdout + missing.stderr


def test_verify_passes_on_what_runink_wrote(repo: Path) -> None:
    done = lineage(repo, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 commit(s), 3 run(s): ok" in done.stdout


def failing(repo: Path, sha: str) -> str:
    done = lineage(repo, "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"commit {sha}" in done.stdout, done.stdout
    return done.stdout


def test_verify_names_an_unsigned_commit(repo: Path) -> None:
    run = pending_run()
    sha = commit_by_hand(repo, {run.path: run.content()}, f"runs\n\nRunink-Run-Id: {run.run_id}\n")
    assert "is not signed" in failing(repo, sha)


def test_verify_names_a_commit_signed_by_a_key_not_allowed(repo: Path, tmp_path: Path) -> None:
    stranger = keypair(tmp_path, "stranger")
    run = pending_run()
    sha = commit_by_hand(
        repo, {run.path: run.content()}, f"runs\n\nRunink-Run-Id: {run.run_id}\n", stranger
    )
    assert "not in the allowed signers" in failing(repo, sha)


def test_verify_names_a_commit_that_edits_a_run_file_by_hand(repo: Path, key: Path) -> None:
    path = git(repo, "ls-tree", "-r", "--name-only", REF).splitlines()[0]
    events = orjson.loads(git(repo, "show", f"{REF}:{path}"))
    events[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = 0
    data = orjson.dumps(events, option=orjson.OPT_SORT_KEYS) + b"\n"
    sha = commit_by_hand(repo, {path: data}, "fix counts", key)
    assert "append-only" in failing(repo, sha)


def test_verify_names_a_commit_whose_event_breaks_the_openlineage_schema(
    repo: Path, key: Path
) -> None:
    value = pending_value()
    value["events"][1]["eventTime"] = "yesterday"
    del value["events"][1]["producer"]
    run = pending_run()
    run = type(run).from_value(value)
    sha = commit_by_hand(
        repo, {run.path: run.content()}, f"runs\n\nRunink-Run-Id: {run.run_id}\n", key
    )
    out = failing(repo, sha)
    assert "breaks the OpenLineage schema" in out and "producer" in out


def test_verify_names_a_commit_with_a_trailer_but_no_file(repo: Path, key: Path) -> None:
    run, ghost = pending_run(), pending_run()
    sha = commit_by_hand(
        repo,
        {run.path: run.content()},
        f"runs\n\nRunink-Run-Id: {run.run_id}\nRunink-Run-Id: {ghost.run_id}\n",
        key,
    )
    out = failing(repo, sha)
    assert f"Runink-Run-Id: {ghost.run_id} has no file" in out
    assert run.run_id not in out.replace(ghost.run_id, "")
