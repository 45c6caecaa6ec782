"""``runi barn``: run a Barn member, show a cluster's status. Thin: parse, call, print."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import orjson

from runink.barn.client import RemoteBarn
from runink.barn.config import ConfigError, load_config
from runink.barn.member import serve
from runink.barn.models import BarnError

_CONFIG = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Barn config file (YAML or JSON).",
)
_NAME = click.option("--name", default=None, help="Member to act as (overrides the file).")


@click.group("barn")
def barn() -> None:
    """Barn, the Raft key-value store holding Runink's desired and actual state."""


@barn.command("serve")
@_CONFIG
@_NAME
def serve_cmd(config_path: Path, name: str | None) -> None:
    """Run one member in the foreground until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(config_path, name)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    serve(config)


@barn.command("status")
@_CONFIG
@_NAME
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table")
def status_cmd(config_path: Path, name: str | None, output: str) -> None:
    """Show every member's view: leader, term, commit index, lag."""
    try:
        config = load_config(config_path, name)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    rows = []
    for member in config.members:
        client = RemoteBarn([member.client_address], config.secret, timeout=2.0)
        try:
            rows.append(client.status().to_dict())
        except BarnError as exc:
            rows.append({"name": member.name, "error": str(exc)})
        finally:
            client.close()
    if output == "json":
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(
            f"{'MEMBER':<10} {'LEADER':<10} {'TERM':>6} {'COMMIT':>9} {'LAG':>5} "
            f"{'REVISION':>9}  STATE"
        )
        for row in rows:
            if "error" in row:
                click.echo(
                    f"{row['name']:<10} {'-':<10} {'-':>6} {'-':>9} {'-':>5} "
                    f"{'-':>9}  unreachable: {row['error']}"
                )
                continue
            state = "leader" if row["is_leader"] else "follower"
            click.echo(
                f"{row['name']:<10} {row['leader'] or '-':<10} {row['term']:>6} "
                f"{row['commit_index']:>9} {row['lag']:>5} {row['revision']:>9}  {state}"
            )
    if any("error" in row for row in rows):
        sys.exit(1)


def serve_main() -> None:
    """Entry point of ``python -m runink.barn``: ``serve`` with its options."""
    serve_cmd(prog_name="python -m runink.barn")
