"""``runi hook``: git hook programs (``pre-receive`` for a bare repository)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from runink.audit import pre_receive, text
from runink.cli.output import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from runink.findings import RuninkError


@click.group("hook")
def hook() -> None:
    """Git hook programs: install them in the repository the team pushes to."""


@hook.command("pre-receive")
@click.option("--no-golden", is_flag=True, help="Skip the golden tests of affected pipelines.")
def pre_receive_command(no_golden: bool) -> None:
    """Audit pushes to the tracked branch; reject the push when the audit fails.

    Install in a bare repository as hooks/pre-receive:

        #!/bin/sh
        exec runi hook pre-receive

    git passes one "<old> <new> <ref>" line per ref on stdin. The report is shown to
    the pusher. Exit status: 0 accept, 1 reject (findings), 2 reject (usage or error).
    """
    repo = Path(os.environ.get("GIT_DIR") or ".")
    try:
        result = pre_receive(repo, sys.stdin.read().splitlines(), golden=not no_golden)
    except RuninkError as error:
        for finding in error.findings:
            print(f"runink: {finding}", file=sys.stderr)
        print("runink: push rejected: the audit could not run", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for problem in result.problems:
        print(f"runink: {problem}", file=sys.stderr)
    for ref, report in result.reports:
        sys.stderr.write(f"runink: audit of {ref}\n" + text(report))
    if result.problems:
        raise SystemExit(EXIT_USAGE)
    if not result.ok:
        print("runink: push rejected: fix the errors above and push again", file=sys.stderr)
        raise SystemExit(EXIT_FINDINGS)
    raise SystemExit(EXIT_OK)
