"""``runi server``: a Barn member, the gRPC API and the controllers for one repository."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from reconciler.embedded import allowed_signers_line, embedded_config
from reconciler.server import ControlPlane, ServerConfig
from runink.cli.output import EXIT_OK, EXIT_USAGE, console
from runink.repo.remote import RemoteError, parse_location, redact


def default_data_dir(name: str) -> Path:
    """``$XDG_STATE_HOME/runink/<name>`` (state never lives in the repository)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "runink" / name


def check_data_dir(data_dir: Path, repo: Path) -> None:
    """Refuse a data dir inside the repository: its state would show up in git."""
    if data_dir.resolve().is_relative_to(repo.resolve()):
        raise click.UsageError(
            f"--data-dir {data_dir} is inside the repository {repo}: Runink keeps its state "
            "(journal, keys, tokens) outside the work tree; choose another directory"
        )


def print_endpoints(config: ServerConfig, plane: ControlPlane, data_dir: Path) -> None:
    out = console(stderr=True)
    pki = data_dir / "pki"
    out.print(f"runi: API (gRPC, mTLS)  {plane.api_address}   CA {pki / 'ca.crt'}")
    if config.http_address is not None:
        base = f"http://127.0.0.1:{plane.http_port}"
        token = data_dir / "metrics.token"
        out.print(f"runi: metrics          {base}/metrics  (bearer token in {token})")
        for name in config.hook_secrets:
            out.print(
                f"runi: webhook          {base}/hooks/{name}  (HMAC secret in "
                f"{data_dir}/hooks/{name}.secret)"
            )
    out.print(
        "runi: try              runi status --server "
        f"{plane.api_address} --ca {pki / 'ca.crt'} --token "
        f"$(runi token mint --herd HERD --role viewer --key {pki / 'token.key'})"
    )


def print_source(config: ServerConfig) -> None:
    """For a source given by URL: where it is mirrored, and that pushes reach it by hook."""
    out = console(stderr=True)
    for spec in config.sources:
        if spec.url is not None:
            out.print(f"runi: source           {redact(spec.url)}  (mirror {spec.path})")
            out.print(
                f"runi:   fetched every {spec.poll_interval:g} s, or at once on "
                f"POST /hooks/{spec.name} (runi hook post-receive in the remote)",
                markup=False,
            )


def print_lineage_key(key: Path | None, *, generated: bool) -> None:
    """Say which key signs lineage commits and the allowed-signers line that trusts it."""
    out = console(stderr=True)
    if key is None:
        out.print(
            "runi: lineage          [yellow]no signing key[/]: runs stay pending unless "
            "runink.yaml says spec.lineage.signing: none (--lineage-signing-key PATH)"
        )
        return
    made = " (generated)" if generated else ""
    out.print(f"runi: lineage key      {key}{made}; trust it in the allowed signers file:")
    out.print(f"runi:   {allowed_signers_line(key)}", markup=False)


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(1.0):
        pass


@click.command("server")
@click.argument("repo", default=".")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the Barn journal, PKI and tokens live (default: $XDG_STATE_HOME/runink/NAME).",
)
@click.option("--name", default="local", show_default=True, help="The source's name.")
@click.option(
    "--resync",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between polls of the repository and full resyncs (a fallback: commits "
    "to a local repository are seen at once).",
)
@click.option(
    "--lineage-signing-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="RUNINK_LINEAGE_SIGNING_KEY",
    help="SSH private key that signs lineage commits (runink.yaml spec.lineage.signing: ssh).",
)
def server_command(
    repo: str, data_dir: Path | None, name: str, resync: float, lineage_signing_key: Path | None
) -> None:
    """Serve REPO (a directory or a git URL): Barn, the API and the controllers, until Ctrl-C.

    Commits to REPO's tracked branch are validated, compiled and applied as they land;
    agents (runi agent) run what the scheduler places on them. A URL (file://, ssh://,
    https://, user@host:path) is fetched into a mirror in the data dir, on each webhook
    or poll, and the lineage branch is pushed back to it (never forced).
    """
    try:
        source = parse_location(repo)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="REPO") from None
    data_dir = data_dir or default_data_dir(name)
    if isinstance(source, Path):
        check_data_dir(data_dir, source)
    try:
        config = embedded_config(
            data_dir,
            source,
            name=name,
            resync=resync,
            signing_key=lineage_signing_key,
            generate_signing_key=False,
        )
    except RemoteError as exc:
        click.echo(f"runi server: cannot start: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    plane = ControlPlane(config)
    try:
        plane.start()
    except Exception as exc:  # a port taken, a broken journal: one line, not a traceback
        plane.stop()
        click.echo(f"runi server: cannot start: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    print_endpoints(config, plane, data_dir)
    print_source(config)
    print_lineage_key(config.lineage_signing_key, generated=False)
    console(stderr=True).print("runi: serving; Ctrl-C stops")
    try:
        wait_for_signal()
    finally:
        plane.stop()
    raise SystemExit(EXIT_OK)
