"""Entry point of ``runi``: registers every command group; nothing else."""

from __future__ import annotations

import logging
import os
import sys

import click

from runink import __version__
from runink.cli.agent import agent_command
from runink.cli.audit import audit_command
from runink.cli.barn import barn
from runink.cli.compile import compile_command, graph_command
from runink.cli.contract import contract
from runink.cli.doctor import doctor_command
from runink.cli.hook import hook
from runink.cli.init import init_command
from runink.cli.lineage import lineage_group
from runink.cli.lint import lint_command
from runink.cli.output import EXIT_USAGE
from runink.cli.pki import pki_group
from runink.cli.run import run_command
from runink.cli.secret import secret_group
from runink.cli.server import server_command
from runink.cli.status import status_command
from runink.cli.synth import synth_command
from runink.cli.test import test_command
from runink.cli.token import token_group
from runink.cli.up import up_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="runi")
def cli() -> None:
    """Runink: declarative GitOps for data pipelines.

    A Git repository holds herds (tenants), data contracts and features (pipelines);
    runi checks, compiles and runs them. Every command takes -h for its options.
    """


cli.add_command(lint_command)
cli.add_command(agent_command)
cli.add_command(compile_command)
cli.add_command(graph_command)
cli.add_command(run_command)
cli.add_command(test_command)
cli.add_command(synth_command)
cli.add_command(barn)
cli.add_command(doctor_command)
cli.add_command(status_command)
cli.add_command(secret_group)
cli.add_command(token_group)
cli.add_command(pki_group)
cli.add_command(audit_command)
cli.add_command(contract)
cli.add_command(hook)
cli.add_command(init_command)
cli.add_command(server_command)
cli.add_command(up_command)
cli.add_command(lineage_group)


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
