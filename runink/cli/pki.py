"""``runi pki init|issue``: the CA and certificates for mTLS between components."""

from __future__ import annotations

from pathlib import Path

import click

from runink.api.pki import DEFAULT_HOSTS, Identity, PkiError, init_pki, issue
from runink.cli.connect import fail


@click.group("pki")
def pki_group() -> None:
    """Certificates for mTLS: a CA, the server, one per agent node, clients."""


@pki_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help=f"Name or IP the server is reached at (repeat). Default: {', '.join(DEFAULT_HOSTS)}.",
)
@click.option("--agent", "agents", multiple=True, help="Issue an agent cert for NODE (repeat).")
@click.option(
    "--client", "clients", multiple=True, help="Issue a client cert NAME besides 'default'."
)
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
def init_command(
    directory: Path,
    hosts: tuple[str, ...],
    agents: tuple[str, ...],
    clients: tuple[str, ...],
    days: int,
) -> None:
    """Create DIRECTORY with a CA, server cert, token-signing key, secrets KEK, and
    agent and client certs. Private keys are written 0600; keep the directory private."""
    try:
        written = init_pki(
            directory,
            hosts=hosts or DEFAULT_HOSTS,
            agents=agents,
            clients=("default", *[c for c in clients if c != "default"]),
            days=days,
        )
    except PkiError as exc:
        fail(str(exc))
    for path in written:
        click.echo(str(path))


@pki_group.command("issue")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--agent", default=None, help="Issue a cert for the agent of node NODE.")
@click.option("--client", default=None, help="Issue a client cert NAME.")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
def issue_command(directory: Path, agent: str | None, client: str | None, days: int) -> None:
    """Issue one more certificate from the CA in DIRECTORY."""
    if (agent is None) == (client is None):
        fail("name exactly one of --agent NODE and --client NAME")
    identity = Identity("agent", agent) if agent else Identity("client", str(client))
    try:
        paths = issue(directory, identity, days=days)
    except PkiError as exc:
        fail(str(exc))
    for path in paths:
        click.echo(str(path))
