"""`runi server` as a library: a commit lands, and the control plane follows at once."""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.server import ControlPlane
from runink.api.records import NodeRecord
from tests.conftest import commit_all, eventually
from tests.integration.reconciler.harness import serving, source_record

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def plane(tmp_path: Path, example_repo: Path) -> Iterator[ControlPlane]:
    commit_all(example_repo)
    with serving(tmp_path / "state", example_repo) as server:
        yield server


def test_a_commit_is_applied_without_waiting_for_a_poll(
    plane: ControlPlane, example_repo: Path
) -> None:
    first = eventually(lambda: source_record(plane) and source_record(plane).applied_revision)  # type: ignore[union-attr]
    feature = example_repo / "features/trades.dsl"
    feature.write_text(feature.read_text().replace('cpu="500m"', 'cpu="750m"', 1))
    sha = commit_all(example_repo, "more cpu")
    applied = eventually(
        lambda: (r := source_record(plane)) is not None and r.applied_revision == f"main@sha1:{sha}"
    )
    assert applied and first != f"main@sha1:{sha}"


def test_a_live_node_gets_the_pipelines_and_status_follows(plane: ControlPlane) -> None:
    barn = plane.barn
    assert barn is not None
    eventually(lambda: barn.get("/pipelines/finance/trades/validate-trades"))
    lease = barn.lease_grant(60)
    node = NodeRecord("n1", {"disk": "ssd"}, cpu_millis=4000, memory_bytes=8 << 30)
    barn.put("/nodes/n1", node.to_dict(), lease=lease.id)
    eventually(lambda: barn.get("/assignments/n1/finance/trades/validate-trades"))
    status = eventually(lambda: barn.get("/status/finance/trades/validate-trades"))
    assert status.value["health"] == "Progressing"  # type: ignore[attr-defined]


def test_webhooks_need_the_signature_and_metrics_need_the_token(plane: ControlPlane) -> None:
    base = f"http://127.0.0.1:{plane.http_port}"
    body = b'{"ref": "refs/heads/main"}'
    secret = plane.config.hook_secrets["local"]

    def post(signature: str) -> int:
        request = urllib.request.Request(
            f"{base}/hooks/local", body, {"X-Runink-Signature": signature}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    good = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    assert post("sha256=" + "0" * 64) == 401
    assert post(good) == 202

    def get(token: str | None) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(f"{base}/metrics", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return int(reply.status), reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    assert get(None)[0] == 401 and get("wrong")[0] == 401
    code, text = get(plane.config.metrics_token)
    assert code == 200 and 'runink_reconcile_total{controller="source"' in text


def test_the_last_apply_time_is_exported(plane: ControlPlane) -> None:
    import urllib.request

    eventually(lambda: source_record(plane) and source_record(plane).applied_at)  # type: ignore[union-attr]
    request = urllib.request.Request(
        f"http://127.0.0.1:{plane.http_port}/metrics",
        headers={"Authorization": f"Bearer {plane.config.metrics_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        text = reply.read().decode()
    assert 'runink_source_last_applied_timestamp_seconds{repo="local"}' in text
