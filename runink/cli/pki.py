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
@click.option(
    "--agent", "agents", multiple=True, help="Issue a cert for the agent of node NODE (repeatable)."
)
@click.option("--client", "clients", multiple=True, help="Issue a client cert NAME (repeatable).")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
def issue_command(
    directory: Path, agents: tuple[str, ...], clients: tuple[str, ...], days: int
) -> None:
    """Issue more certificates from the CA in DIRECTORY."""
    if not agents and not clients:
        fail("name at least one --agent NODE or --client NAME")
    identities = [Identity("agent", a) for a in agents] + [Identity("client", c) for c in clients]
    for identity in identities:
        try:
            paths = issue(directory, identity, days=days)
        except PkiError as exc:
            fail(str(exc))
        for path in paths:
            click.echo(str(path))
