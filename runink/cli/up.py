"""``runi up``: the embedded default, a server and an agent for one local repository."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

import click

from agent import Agent, AgentConfig
from reconciler.embedded import LOCAL_NODE, embedded_config
from reconciler.server import ControlPlane
from runink.api.records import SourceRecord, StatusRecord
from runink.barn import BarnClient
from runink.cli.output import EXIT_OK, EXIT_USAGE, console
from runink.cli.server import (
    check_data_dir,
    default_data_dir,
    print_endpoints,
    print_lineage_key,
    wait_for_signal,
)


class Narrator:
    """Prints what changes as it changes: the applied revision, each pipeline's state."""

    def __init__(self, barn: BarnClient) -> None:
        self.barn = barn
        self.out = console(stderr=True)
        self._seen: dict[str, tuple[str, ...]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="up-narrator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._look()
            except Exception:  # Barn closing under us at shutdown: nothing to say
                return

    def _look(self) -> None:
        for kv in self.barn.range("/sources/").kvs:
            if isinstance(kv.value, Mapping):
                source = SourceRecord.from_dict(kv.value)
                ready = next((c for c in source.conditions if c.type == "Ready"), None)
                state = (source.applied_revision, *((ready.status, ready.reason) if ready else ()))
                if self._changed(kv.key, state) and ready is not None:
                    colour = {"True": "green", "False": "red"}.get(ready.status, "yellow")
                    self.out.print(
                        f"[{colour}]source {source.repo}: {ready.reason}[/] "
                        f"{ready.message.splitlines()[0] if ready.message else ''}"
                    )
                    for line in ready.message.splitlines()[1:]:
                        self.out.print(f"    {line}")
        for kv in self.barn.range("/status/").kvs:
            if isinstance(kv.value, Mapping):
                status = StatusRecord.from_dict(kv.value)
                state = (status.sync, status.health, status.revision)
                if self._changed(kv.key, state):
                    colour = {"Healthy": "green", "Degraded": "red"}.get(status.health, "yellow")
                    rev = status.revision.rsplit(":", 1)[-1][:12] or "-"
                    self.out.print(
                        f"[{colour}]{status.pipeline}: {status.sync}, {status.health}[/] "
                        f"@ {rev} {status.message}"
                    )

    def _changed(self, key: str, state: tuple[str, ...]) -> bool:
        if self._seen.get(key) == state:
            return False
        self._seen[key] = state
        return True


@click.command("up")
@click.argument("repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where all state lives: Barn journal, PKI, checkouts, herd data "
    "(default: $XDG_STATE_HOME/runink/local).",
)
@click.option(
    "--no-isolation",
    is_flag=True,
    help="Debugging only: run slices as plain processes (no cgroups or namespaces).",
)
@click.option("--resync", type=float, default=30.0, show_default=True, help="Poll interval.")
@click.option(
    "--lineage-signing-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="RUNINK_LINEAGE_SIGNING_KEY",
    help="SSH private key that signs lineage commits (default: one generated in the data "
    "dir; its allowed-signers line is printed).",
)
def up_command(
    repo: Path,
    data_dir: Path | None,
    no_isolation: bool,
    resync: float,
    lineage_signing_key: Path | None,
) -> None:
    """Run REPO's pipelines here: one server and one agent, until Ctrl-C.

    Commit to the repository and the new revision is validated, applied and run; an
    invalid commit changes nothing and says why. `runi status` shows it all.
    """
    data_dir = (data_dir or default_data_dir("local")).resolve()
    check_data_dir(data_dir, repo)
    config = embedded_config(data_dir, repo, resync=resync, signing_key=lineage_signing_key)
    if no_isolation:
        console(stderr=True).print(
            "[bold red]runi up: --no-isolation: slices run as plain processes, without "
            "cgroups, namespaces, network policy or secrets[/]"
        )
    # The agent's forkserver must exist before any thread does (the server starts many).
    agent = Agent(
        AgentConfig(
            server=config.api.address,
            pki_dir=data_dir / "pki",
            node=LOCAL_NODE,
            repo=str(repo.resolve()),
            data_dir=data_dir / "agent",
            labels=_all_placement_labels(repo),
            isolation=not no_isolation,
            seed_data=True,
        )
    )
    plane = ControlPlane(config)
    try:
        plane.start()
        agent.start()
    except Exception as exc:  # a port taken, isolation refused: one line, not a traceback
        agent.stop()
        plane.stop()
        click.echo(f"runi up: cannot start: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    print_endpoints(config, plane, data_dir)
    print_lineage_key(config.lineage_signing_key, generated=lineage_signing_key is None)
    assert plane.barn is not None
    narrator = Narrator(plane.barn)
    narrator.start()
    console(stderr=True).print(f"runi up: serving {repo} (node {LOCAL_NODE}); Ctrl-C stops")
    started = time.monotonic()
    try:
        wait_for_signal()
    finally:
        console(stderr=True).print("runi up: stopping runs, agent and server")
        narrator.stop()
        agent.stop()
        plane.stop()
        console(stderr=True).print(f"runi up: stopped after {time.monotonic() - started:.0f} s")
    raise SystemExit(EXIT_OK)


def _all_placement_labels(repo: Path) -> dict[str, str]:
    """The one local node carries every label the repository's herds place on, so that
    every pipeline can run here (the embedded default has no other node)."""
    from runink.repo import load_repo

    labels: dict[str, str] = {}
    try:
        snapshot = load_repo(repo, rev="HEAD")  # what is committed is what runs
    except Exception:
        return labels
    for herd in snapshot.herds:
        labels.update(herd.placement)
    return labels
