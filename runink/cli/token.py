"""``runi token mint``: a herd-scoped bearer token signed with the server's key."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from runink.api.keys import KeyNameError, check_name
from runink.api.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    TokenError,
    TokenIssuer,
    load_private_key,
    parse_ttl,
)
from runink.cli.connect import fail


@click.group("token")
def token_group() -> None:
    """Bearer tokens for people and services (ES256 JWTs)."""


@token_group.command("mint")
@click.option("--herd", required=True, help="The herd the token is for.")
@click.option("--role", required=True, help="One of the herd's roles (e.g. viewer).")
@click.option("--ttl", default="1h", show_default=True, help="Lifetime: 30m, 1h, 7d...")
@click.option(
    "--subject",
    default=None,
    help="Who holds the token (recorded in audit logs); default user:<your login>.",
)
@click.option(
    "--key",
    "key_file",
    envvar="RUNINK_TOKEN_KEY",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The server's signing key, pki/token.key (env RUNINK_TOKEN_KEY).",
)
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True, help="iss claim.")
@click.option("--audience", default=DEFAULT_AUDIENCE, show_default=True, help="aud claim.")
def mint_command(
    herd: str,
    role: str,
    ttl: str,
    subject: str | None,
    key_file: Path,
    issuer: str,
    audience: str,
) -> None:
    """Print a token granting ROLE in HERD (the role's rules are read from the herd
    at every call, so removing the role revokes the token)."""
    try:
        check_name("herd", herd)
        check_name("role", role)
        seconds = parse_ttl(ttl)
        key = load_private_key(key_file)
    except (TokenError, KeyNameError) as exc:
        fail(str(exc))
    who = subject or f"user:{getpass.getuser()}"
    click.echo(TokenIssuer(key, issuer, audience).mint(herd, role, seconds, who))
