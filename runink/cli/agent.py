"""``runi agent``: run this node's agent until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from runink.cli.output import EXIT_USAGE


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise click.BadParameter(
                f"{text!r} is not key=value (e.g. disk=ssd)", param_hint="--label"
            )
        labels[key] = value
    return labels


@click.command("agent")
@click.option("--server", required=True, metavar="HOST:PORT", help="The Runink API server.")
@click.option(
    "--pki",
    "pki_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="PKI directory with ca.crt and agent-<NODE>.crt/.key (runi pki init DIR --agent NODE).",
)
@click.option("--node", required=True, help="This node's name (the one its certificate names).")
@click.option(
    "--repo",
    required=True,
    metavar="PATH_OR_URL",
    help="The pipeline repository: assigned commits are read from it (never its work tree).",
)
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Checkouts, run state and each herd's data (<DIR>/<herd>/).",
)
@click.option("--label", "labels", multiple=True, metavar="K=V", help="A node label (repeatable).")
@click.option(
    "--metrics-port",
    type=int,
    help="Serve Prometheus /metrics on this port (needs --metrics-token-file).",
)
@click.option(
    "--metrics-token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The bearer token Prometheus presents on /metrics.",
)
@click.option("--lease-ttl", type=int, default=10, show_default=True, help="Node lease seconds.")
@click.option(
    "--seed-data",
    is_flag=True,
    help="Copy the repository's data/ into each herd's data dir once (examples, demos).",
)
@click.option(
    "--no-isolation",
    is_flag=True,
    help="Debugging only: slices run as plain processes (no cgroups, namespaces or secrets).",
)
def agent_command(
    server: str,
    pki_dir: Path,
    node: str,
    repo: str,
    data_dir: Path,
    labels: tuple[str, ...],
    metrics_port: int | None,
    metrics_token_file: Path | None,
    lease_ttl: int,
    seed_data: bool,
    no_isolation: bool,
) -> None:
    """Run the node agent: register, watch assignments, run and report pipelines.

    Stops cleanly on SIGTERM or Ctrl-C: streams drain and commit, nothing is left behind.
    """
    from agent import Agent, AgentConfig
    from agent.isolation import IsolationError

    config = AgentConfig(
        server=server,
        pki_dir=pki_dir,
        node=node,
        repo=repo,
        data_dir=data_dir,
        labels=_labels(labels),
        metrics_port=metrics_port,
        metrics_token=metrics_token_file.read_text().strip() if metrics_token_file else "",
        lease_ttl=lease_ttl,
        isolation=not no_isolation,
        seed_data=seed_data,
    )
    if metrics_port is not None and not config.metrics_token:
        click.echo(
            "runi: --metrics-port needs --metrics-token-file: every port Runink opens is "
            "authenticated (Prometheus sends the token as a bearer credential)",
            err=True,
        )
        raise SystemExit(EXIT_USAGE)
    if not config.cert_file.exists():
        click.echo(
            f"runi: no certificate for node {node!r} in {pki_dir} "
            f"(expected {config.cert_file.name})\n    hint: runi pki init {pki_dir} --agent {node}",
            err=True,
        )
        raise SystemExit(EXIT_USAGE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        agent = Agent(config)
    except IsolationError as exc:
        click.echo(f"runi: isolation: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"    hint: {exc.hint}", err=True)
        raise SystemExit(1) from None
    agent.start()
    agent.wait()
