"""Options and connection shared by the commands that talk to a Runink server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from runink.api.client import ApiClient, ApiError
from runink.api.pki import CLIENT_CERT, CLIENT_KEY
from runink.cli.output import EXIT_USAGE

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_SERVER = "127.0.0.1:7443"

_OPTIONS = (
    click.option(
        "--server",
        envvar="RUNINK_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        help="API server host:port (env RUNINK_SERVER).",
    ),
    click.option(
        "--token",
        envvar="RUNINK_TOKEN",
        default=None,
        help="Bearer token (env RUNINK_TOKEN; prefer the variable: argv is visible to ps).",
    ),
    click.option(
        "--ca",
        envvar="RUNINK_CA",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="CA certificate of the server (env RUNINK_CA), e.g. pki/ca.crt.",
    ),
    click.option(
        "--cert",
        envvar="RUNINK_CERT",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Client certificate (env RUNINK_CERT; default: client.crt next to the CA).",
    ),
    click.option(
        "--key",
        "key_file",
        envvar="RUNINK_KEY",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Client key (env RUNINK_KEY; default: client.key next to the CA).",
    ),
)


def connection_options(fn: F) -> F:
    """Add --server, --token, --ca, --cert and --key to a command."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2: how every connection or server error ends."""
    click.echo(f"runi: {message}", err=True)
    raise SystemExit(EXIT_USAGE)


def open_client(
    server: str, token: str | None, ca: Path | None, cert: Path | None, key_file: Path | None
) -> ApiClient:
    """A client for the given options; exits with a one-line message if one is missing."""
    if ca is None:
        fail("no CA certificate: pass --ca FILE or set RUNINK_CA (made by `runi pki init`)")
    cert = cert or ca.parent / CLIENT_CERT
    key_file = key_file or ca.parent / CLIENT_KEY
    try:
        return ApiClient.from_files(server, ca, cert, key_file, token)
    except ApiError as exc:
        fail(str(exc))
