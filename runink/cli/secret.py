"""``runi secret set|list``: herd secrets, sealed by the server; values never on argv."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from runink.api.client import ApiError, to_dict
from runink.cli.connect import connection_options, fail, open_client
from runink.cli.output import console, emit_data


@click.group("secret")
def secret_group() -> None:
    """Secrets a herd declares (spec.secrets): set values, list names and versions."""


def _read_value() -> bytes:
    if sys.stdin.isatty():
        text = click.prompt("value", hide_input=True, confirmation_prompt=True)
        return str(text).encode()
    value = sys.stdin.buffer.read()
    # `echo value | runi secret set` adds a newline that is not part of the secret.
    if value.endswith(b"\r\n"):
        return value[:-2]
    return value.removesuffix(b"\n")


@secret_group.command("set")
@click.option("--herd", required=True, help="The herd that declares the secret.")
@click.argument("name")
@connection_options
def set_command(
    herd: str,
    name: str,
    server: str,
    token: str | None,
    ca: Path | None,
    cert: Path | None,
    key_file: Path | None,
) -> None:
    """Set secret NAME of HERD to the value read from stdin (never from the command line).

    Needs write:secrets in the herd. The server seals the value (AES-256-GCM); Barn
    stores only ciphertext.
    """
    value = _read_value()
    if not value:
        fail("the value on stdin is empty; pipe it in, e.g. `runi secret set ... < file`")
    client = open_client(server, token, ca, cert, key_file)
    try:
        info = client.set_secret(herd, name, value)
    except ApiError as exc:
        fail(str(exc))
    finally:
        client.close()
    click.echo(f"secret {info.herd}/{info.name} set (version {info.version})", err=True)


@secret_group.command("list")
@click.option("--herd", required=True, help="The herd whose secrets to list.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
)
@connection_options
def list_command(
    herd: str,
    output: str,
    server: str,
    token: str | None,
    ca: Path | None,
    cert: Path | None,
    key_file: Path | None,
) -> None:
    """List the herd's secrets: names, versions, who set them; never values."""
    client = open_client(server, token, ca, cert, key_file)
    try:
        reply = client.list_secrets(herd)
    except ApiError as exc:
        fail(str(exc))
    finally:
        client.close()
    if output != "table":
        emit_data(
            {"secrets": [to_dict(s) for s in reply.secrets], "missing": list(reply.missing)},
            output,
        )
        return
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in ("NAME", "VERSION", "UPDATED", "BY"):
        table.add_column(column, no_wrap=True)
    for s in reply.secrets:
        table.add_row(s.name, str(s.version), s.updated_at, s.updated_by)
    for name in reply.missing:
        table.add_row(name, "-", "not set", "-", style="yellow")
    console().print(table)
