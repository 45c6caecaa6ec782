"""The metrics port answers only a caller with the bearer token."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping

import pytest

import runink.observability.metrics  # noqa: F401 - registers the runink_* families
from runink.observability.http import MetricsHttp

pytestmark = pytest.mark.timeout(30)


def call(url: str, token: str | None = None, body: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, body, headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_metrics_need_the_token_and_no_token_configured_means_no_access() -> None:
    with_token = MetricsHttp(("127.0.0.1", 0), "s3cret").start()
    without = MetricsHttp(("127.0.0.1", 0), "").start()
    try:
        base = f"http://127.0.0.1:{with_token.port}"
        assert call(f"{base}/metrics")[0] == 401
        assert call(f"{base}/metrics", "wrong")[0] == 401
        code, text = call(f"{base}/metrics", "s3cret")
        assert code == 200 and b"# HELP runink_" in text
        assert call(f"{base}/other", "s3cret")[0] == 404
        assert call(f"http://127.0.0.1:{without.port}/metrics", "")[0] == 401
    finally:
        with_token.stop()
        without.stop()


def test_posts_go_to_the_handler_with_path_headers_and_body() -> None:
    seen: list[tuple[str, bytes]] = []

    def post(path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        seen.append((path, body))
        return 202, b"ok\n"

    http = MetricsHttp(("127.0.0.1", 0), "t", post=post).start()
    try:
        assert call(f"http://127.0.0.1:{http.port}/hooks/x", body=b"refs")[0] == 202
    finally:
        http.stop()
    assert seen == [("/hooks/x", b"refs")]
