"""Entry point of ``runi``."""

from __future__ import annotations

import click

from runink import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runi")
def cli() -> None:
    """Runink: declarative GitOps for data pipelines."""


def main() -> None:
    cli()
