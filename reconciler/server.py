"""`runi server` as a library: a Barn member, the gRPC API and the controllers, wired.

Controllers are fed from three directions: a Barn watch (any change to pipelines,
herds, nodes, assignments, status or runs queues the controllers that care), the
repository's refs (watchdog sees a commit land on a local repository at once), and
the periodic resync (the polling fallback, with jitter). They act only while this
server holds the controller lease. One HTTP port serves ``/metrics`` (bearer token)
and ``POST /hooks/<source>`` (HMAC-SHA256 of the body with the source's secret, as
GitHub signs webhooks): both authenticated, like every port Runink opens.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from reconciler import exporter
from reconciler.apply import ApplyController
from reconciler.controller import Controller, Manager
from reconciler.leader import ControllerLease
from reconciler.lineage import LineageController
from reconciler.scheduler import Scheduler
from reconciler.source import DesiredStates, SourceController, SourceSpec
from reconciler.status import StatusController
from runink.api.server import ApiServer, ApiSettings
from runink.barn import Barn, BarnConfig, BarnError
from runink.observability.http import MetricsHttp

log = logging.getLogger("runink.server")


@dataclass(frozen=True)
class ServerConfig:
    """Everything `runi server` runs with."""

    identity: str
    barn: BarnConfig
    api: ApiSettings
    sources: tuple[SourceSpec, ...]
    http_address: tuple[str, int] | None = None  # /metrics and /hooks; None: no HTTP port
    metrics_token: str = field(default="", repr=False)
    hook_secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    resync: float = 30.0
    workers: int = 2
    lineage_signing_key: Path | None = None  # SSH private key that signs lineage commits


class ControlPlane:
    """A running server: ``start()``, then ``stop()`` (idempotent)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.barn: Barn | None = None
        self.api: ApiServer | None = None
        self.manager: Manager | None = None
        self.lease: ControllerLease | None = None
        self.http: MetricsHttp | None = None
        self._observer: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._source: SourceController | None = None
        self.lineage: LineageController | None = None
        self._exporter: exporter.BarnExporter | None = None

    @property
    def api_address(self) -> str:
        assert self.api is not None
        return self.api.address

    @property
    def http_port(self) -> int:
        assert self.http is not None
        return self.http.port

    def start(self, leader_timeout: float = 30.0) -> ControlPlane:
        config = self.config
        self.barn = barn = Barn(config.barn)
        barn.wait_for_leader(leader_timeout)
        self._exporter = exporter.attach(barn)  # Barn-derived metrics on /metrics
        self.api = ApiServer(barn, config.api).start()
        desired = DesiredStates()
        self._source = source = SourceController(
            barn, config.sources, desired, on_valid=lambda repo: self.enqueue("apply", repo)
        )
        self.lineage = LineageController(
            barn, config.sources, desired, signing_key=config.lineage_signing_key
        )
        controllers: list[Controller] = [
            source,
            ApplyController(barn, config.sources, desired),
            Scheduler(barn),
            StatusController(barn),
            self.lineage,
        ]
        self.lease = ControllerLease(barn, config.identity)
        self.lease.step()  # lead at once when nobody else does
        self.lease.start()
        self.manager = Manager(
            controllers, workers=config.workers, resync=config.resync, active=self.lease.is_leader
        )
        self.manager.start()
        self._spawn(self._route_barn_events, "barn-router")
        self._watch_refs()
        if config.http_address is not None:
            self._serve_http(config.http_address)
        return self

    def enqueue(self, controller: str, key: str) -> None:
        if self.manager is not None:
            self.manager.enqueue(controller, key)

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5)
        if self.http is not None:
            self.http.stop()
        if self.manager is not None:
            self.manager.stop()
        if self._source is not None:
            self._source.close()
        if self.lineage is not None:
            self.lineage.close()
        if self.lease is not None:
            self.lease.stop()
        if self.api is not None:
            self.api.stop()
        for thread in self._threads:
            thread.join(5)
        exporter.detach(self._exporter)
        if self.barn is not None:
            self.barn.close()
            self.barn = None

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ------------------------------------------------------------ Barn events

    def _route_barn_events(self) -> None:
        """Queue the controllers a change concerns (level-triggered: keys only)."""
        assert self.barn is not None
        watch = self.barn.watch("/")
        try:
            while not self._stop.is_set():
                try:
                    response = watch.get(timeout=0.5)
                except BarnError:  # compacted or lost: resync covers the gap
                    watch = self.barn.watch("/")
                    if self.manager is not None:
                        self.manager.resync_all()
                    continue
                if response is None:
                    continue
                for event in response.events:
                    self._route(event.kv.key)
        finally:
            watch.cancel()

    def _route(self, key: str) -> None:
        parts = key.split("/")
        kind = parts[1] if len(parts) > 1 else ""
        if kind == "pipelines" and len(parts) == 5:
            pipeline = "/".join(parts[2:])
            self.enqueue("scheduler", pipeline)
            self.enqueue("status", pipeline)
        elif kind in ("status", "runs") and len(parts) >= 5:
            self.enqueue("status", "/".join(parts[2:5]))
        elif kind == "lineage" and len(parts) == 4 and parts[2] == "pending":
            for spec in self.config.sources:
                self.enqueue("lineage", spec.name)
        elif kind == "assignments" and len(parts) == 6:
            self.enqueue("status", "/".join(parts[3:6]))
        elif kind in ("nodes", "herds") and self.manager is not None:
            # A node came or went, a herd's quota or placement changed: place again.
            for name in ("scheduler", "status"):
                running = self.manager.queue(name)
                for pipeline_key in _pipelines(self):
                    running.add(pipeline_key)

    # ------------------------------------------------------------ refs

    def _watch_refs(self) -> None:
        observer = Observer()
        for spec in self.config.sources:
            try:
                repo = git.Repo(spec.path)
                git_dir = Path(repo.git_dir)
                repo.close()
            except (git.GitError, OSError) as exc:
                log.warning("not watching %s: %s (polling only)", spec.path, exc)
                continue
            handler = _RefsChanged(
                functools.partial(self.enqueue, "source", spec.name), self._lineage_refs
            )
            # refs/ and the git dir's own files (packed-refs, HEAD) only: a recursive
            # watch of the git dir would also watch every objects/ directory a push
            # creates, thousands of inotify watches in a large repository.
            observer.schedule(handler, str(git_dir), recursive=False)
            observer.schedule(handler, str(git_dir / "refs"), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def _lineage_refs(self) -> tuple[str, ...]:
        branches = self.lineage.branches() if self.lineage is not None else set()
        return tuple(f"refs/heads/{b}" for b in sorted(branches))

    # ------------------------------------------------------------ HTTP

    def _serve_http(self, address: tuple[str, int]) -> None:
        exporter = self._exporter
        self.http = MetricsHttp(
            address,
            self.config.metrics_token,
            post=self._hook,
            extra=exporter.text if exporter is not None else None,
        ).start()

    def _hook(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, bytes]:
        """``POST /hooks/<source>``: a signed nudge to look at the source now."""
        name = path.removeprefix("/hooks/")
        secret = self.config.hook_secrets.get(name)
        if not path.startswith("/hooks/") or secret is None:
            return 404, b"no such hook\n"
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
        if not hmac.compare_digest(given, hook_signature(secret, body)):
            return 401, b"bad signature\n"
        self.enqueue("source", name)
        return 202, b"queued\n"


SIGNATURE_HEADER = "X-Runink-Signature"


def hook_signature(secret: bytes, body: bytes) -> str:
    """The ``X-Runink-Signature`` of a webhook body: ``sha256=<HMAC-SHA256 hex>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class _RefsChanged(FileSystemEventHandler):
    """A commit, push or fetch moved a ref: look at the source again.

    The lineage branch is not the source: the lineage controller's own commits to it
    (and their lock files, reflog and directories) must not wake the source controller.
    """

    def __init__(
        self, notify: Callable[[], None], ignored: Callable[[], tuple[str, ...]] = tuple
    ) -> None:
        self.notify = notify
        self.ignored = ignored

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Only writes: reading a ref (as the source controller does) is an event too,
        # and answering it with a reconcile would read the ref again, forever.
        if event.event_type not in ("created", "modified", "moved", "deleted", "closed"):
            return
        if event.is_directory:  # a new ref namespace; the ref file's own event follows
            return
        paths = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
        ignored = self.ignored()
        if any(_is_ref(p) and not _is_one_of(p, ignored) for p in paths if p):
            self.notify()


def _is_ref(path: str) -> bool:
    return "/refs/" in path or path.endswith(("packed-refs", "HEAD"))


def _is_one_of(path: str, refs: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of ``refs`` (its file, lock or reflog)."""
    return any(path.removesuffix(".lock").endswith("/" + ref) for ref in refs)


def _pipelines(plane: ControlPlane) -> list[str]:
    if plane.barn is None:
        return []
    return ["/".join(kv.key.split("/")[2:]) for kv in plane.barn.range("/pipelines/").kvs]
