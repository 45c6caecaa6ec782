"""One authenticated HTTP port for Prometheus: ``GET /metrics`` behind a bearer token.

Runink authenticates every port it opens; Prometheus scrapes with
``authorization: {credentials_file: ...}`` (deploy/prometheus/prometheus.yml). A server
adds its webhooks as POST handlers on the same port.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("runink.http")

MAX_BODY = 1 << 20
#: A POST handler: (path, headers, body) -> (status, reply body).
PostHandler = Callable[[str, Mapping[str, str], bytes], tuple[int, bytes]]


class MetricsHttp:
    """``/metrics`` for bearer ``token`` (refused when no token is set), plus ``post``."""

    def __init__(
        self,
        address: tuple[str, int],
        token: str,
        post: PostHandler | None = None,
        extra: Callable[[], bytes] | None = None,
    ) -> None:
        self.token = token
        self.post = post
        self.extra = extra  # more exposition text (a collector that renders its own)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self._reply(404, b"not found\n")
                elif not outer.authorized(self.headers.get("Authorization", "")):
                    self._reply(401, b"a bearer token is required\n")
                else:
                    text = generate_latest() + (outer.extra() if outer.extra else b"")
                    self._reply(200, text, CONTENT_TYPE_LATEST)

            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                if outer.post is None:
                    self._reply(404, b"not found\n")
                    return
                code, reply = outer.post(self.path, dict(self.headers.items()), body)
                self._reply(code, reply)

            def _reply(self, code: int, body: bytes, kind: str = "text/plain") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("http: " + format, *args)

        self.server = ThreadingHTTPServer(address, Handler)
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def authorized(self, header: str) -> bool:
        given = header.removeprefix("Bearer ").strip()
        return bool(self.token) and hmac.compare_digest(given.encode(), self.token.encode())

    def start(self) -> MetricsHttp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
