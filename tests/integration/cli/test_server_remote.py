"""`runi server URL`: a remote repository served through a mirror, woken by its hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import commit_all, eventually, git
from tests.integration.cli.test_server import Server, pipelines, runi

pytestmark = pytest.mark.timeout(180)


def test_server_follows_a_remote_by_url_when_its_post_receive_hook_fires(
    example_repo: Path, tmp_path: Path
) -> None:
    commit_all(example_repo)
    remote = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(example_repo), str(remote))
    running = Server(remote.as_uri(), tmp_path / "state")  # type: ignore[arg-type]
    try:
        assert any(remote.as_uri() in line and "mirror" in line for line in running.lines)
        eventually(lambda: "finance/trades/validate-trades" in pipelines(running))
        hook = remote / "hooks/post-receive"
        hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m runink.cli.main hook post-receive\n")
        hook.chmod(0o755)
        git(remote, "config", "runink.hookUrl", running.http)
        git(remote, "config", "runink.hookSecretFile", str(tmp_path / "state/hooks/local.secret"))
        clone = tmp_path / "clone"
        git(tmp_path, "clone", "-q", str(remote), str(clone))
        feature = clone / "features/trades.dsl"
        feature.write_text(feature.read_text().replace('cpu="500m"', 'cpu="750m"', 1))
        sha = commit_all(clone, "more cpu")
        subprocess.run(["git", "push", "-q", "origin", "main"], cwd=clone, check=True, timeout=60)
        eventually(lambda: sha in pipelines(running).get("finance/trades/validate-trades", ""))
        assert (tmp_path / "state/sources/local.git/HEAD").exists()
    finally:
        assert running.stop() == 0


def test_an_unsupported_url_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    done = runi("server", "ftp://pipelines.example/repo.git", "--data-dir", str(tmp_path / "s"))
    assert done.returncode == 2
    assert "ftp:// scheme is not supported" in done.stderr and "Traceback" not in done.stderr
    missing = runi("server", str(tmp_path / "nowhere"), "--data-dir", str(tmp_path / "s"))
    assert missing.returncode == 2 and "neither a directory nor a git URL" in missing.stderr
