"""A source reached by URL: a bare remote, fetched into the server's mirror on a webhook."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.server import ControlPlane, hook_signature
from tests.conftest import commit_all, eventually, git
from tests.integration.reconciler.harness import serving, source_record

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def remote(tmp_path: Path, example_repo: Path) -> Path:
    commit_all(example_repo, "pipelines")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(example_repo), str(bare))
    return bare


@pytest.fixture
def plane(tmp_path: Path, remote: Path) -> Iterator[ControlPlane]:
    with serving(tmp_path / "state", remote.as_uri()) as server:
        yield server


def ready(plane: ControlPlane) -> tuple[str, str, str]:
    record = source_record(plane)
    found = [c for c in record.conditions if c.type == "Ready"] if record else []
    return (found[0].status, found[0].reason, found[0].message) if found else ("", "", "")


def post_hook(plane: ControlPlane, body: bytes = b'{"ref": "refs/heads/main"}') -> int:
    """What `runi hook post-receive` in the remote does after a push."""
    signature = hook_signature(plane.config.hook_secrets["local"], body)
    request = urllib.request.Request(
        f"http://127.0.0.1:{plane.http_port}/hooks/local",
        body,
        {"X-Runink-Signature": signature},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def push_change(tmp_path: Path, remote: Path) -> str:
    """A person clones the remote, changes a feature and pushes; the new sha."""
    clone = tmp_path / "clone"
    if not clone.exists():
        git(tmp_path, "clone", "-q", str(remote), str(clone))
    feature = clone / "features" / "trades.dsl"
    feature.write_text(feature.read_text().replace('cpu="500m"', 'cpu="750m"', 1))
    sha = commit_all(clone, "more cpu")
    git(clone, "push", "-q", "origin", "HEAD:main")
    return sha


def test_a_push_to_the_remote_then_its_webhook_is_applied(
    plane: ControlPlane, remote: Path, tmp_path: Path
) -> None:
    first = git(remote, "rev-parse", "main")
    eventually(lambda: (r := source_record(plane)) and r.applied_revision == f"main@sha1:{first}")
    sha = push_change(tmp_path, remote)
    assert post_hook(plane) == 202
    eventually(lambda: (r := source_record(plane)) and r.applied_revision == f"main@sha1:{sha}")
    assert ready(plane)[:2] == ("True", "ApplySucceeded")
    mirror = plane.config.sources[0].path
    assert mirror == tmp_path / "state" / "sources" / "local.git"
    assert git(mirror, "rev-parse", "refs/heads/main") == sha


def test_an_unreachable_url_is_not_ready_with_fetch_failed_and_no_credentials(
    tmp_path: Path,
) -> None:
    url = "https://runink:hunter2@127.0.0.1:1/pipelines.git"
    with serving(tmp_path / "state", url) as server:
        status, reason, message = eventually(lambda: ready(server)[0] and ready(server))
        assert (status, reason) == ("False", "FetchFailed")
        assert "https://127.0.0.1:1/pipelines.git" in message
        assert "hunter2" not in message and "\n" not in message
        record = source_record(server)
        assert record is not None and not record.applied_revision
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), path


def test_a_remote_gone_keeps_the_last_good_revision_and_its_return_is_ready_again(
    plane: ControlPlane, remote: Path, tmp_path: Path
) -> None:
    first = git(remote, "rev-parse", "main")
    eventually(lambda: (r := source_record(plane)) and r.applied_revision == f"main@sha1:{first}")
    assert plane.barn is not None
    pipelines = len(plane.barn.range("/pipelines/").kvs)
    away = tmp_path / "away.git"
    shutil.move(remote, away)
    try:
        assert post_hook(plane) == 202
        status, _, message = eventually(lambda: ready(plane)[1] == "FetchFailed" and ready(plane))
        assert status == "False" and remote.as_uri() in message
        record = source_record(plane)
        assert record is not None and record.applied_revision == f"main@sha1:{first}"
        assert len(plane.barn.range("/pipelines/").kvs) == pipelines
    finally:
        shutil.move(away, remote)
    assert post_hook(plane) == 202
    eventually(lambda: ready(plane)[:2] == ("True", "ApplySucceeded"))
