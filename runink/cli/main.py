"""Entry point of ``runi``: registers every command group; nothing else."""

from __future__ import annotations

import logging
import os
import sys

import click

from runink import __version__
from runink.cli.barn import barn
from runink.cli.compile import compile_command, graph_command
from runink.cli.lint import lint_command
from runink.cli.output import EXIT_USAGE
from runink.cli.run import run_command
from runink.cli.synth import synth_command
from runink.cli.test import test_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runi")
def cli() -> None:
    """Runink: declarative GitOps for data pipelines.

    A Git repository holds herds (tenants), data contracts and features (pipelines);
    runi checks, compiles and runs them. Every command takes -h for its options.
    """


cli.add_command(lint_command)
cli.add_command(compile_command)
cli.add_command(graph_command)
cli.add_command(run_command)
cli.add_command(test_command)
cli.add_command(synth_command)
cli.add_command(barn)


def main() -> None:
    """Run ``runi``; an unexpected error is reported in one line (exit 2), not a traceback."""
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence: users never see a traceback
        if os.environ.get("RUNINK_DEBUG"):
            raise
        logging.getLogger("runink").debug("internal error", exc_info=True)
        click.echo(
            f"runi: internal error: {type(exc).__name__}: {exc} (set RUNINK_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
