"""``runi lint``."""

from __future__ import annotations

from pathlib import Path

import click

from runink.cli.output import EXIT_FINDINGS, EXIT_OK, OUTPUT_OPTION, console, emit_findings, fail_on
from runink.findings import RuninkError
from runink.lint import lint


@click.command("lint")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--rev", help="Lint this commit (read from git, no checkout) instead of the files.")
@OUTPUT_OPTION
def lint_command(path: Path, rev: str | None, output: str) -> None:
    """Validate a pipeline repository: every file, every reference, with positions.

    Exit status: 0 clean, 1 findings, 2 usage or internal error.
    """
    try:
        findings = lint(path, rev)
    except RuninkError as error:
        fail_on(error, output)
    emit_findings(findings, output)
    if output == "text":
        errors, warnings = len(findings.errors), len(findings) - len(findings.errors)
        where = f"{path}" + (f" @ {rev}" if rev else "")
        if findings:
            console(stderr=True).print(f"{where}: {errors} error(s), {warnings} warning(s)")
        else:
            console(stderr=True).print(f"{where}: ok")
    raise SystemExit(EXIT_FINDINGS if findings.errors else EXIT_OK)
