"""``runi audit``: the pull-request check (see runink.audit)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from runink.audit import audit, github_annotations, markdown, text
from runink.audit import junit as junit_xml
from runink.cli.output import EXIT_FINDINGS, EXIT_OK, emit_data, fail_on
from runink.findings import RuninkError


@click.command("audit")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--base", required=True, help="The commit the change is based on (e.g. origin/main).")
@click.option("--head", help="The commit to audit; default: the working directory.")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(["text", "json", "yaml", "markdown"]),
    default="text",
    show_default=True,
    help="Human text, json/yaml for machines, markdown for a PR comment.",
)
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML here."
)
@click.option("--no-golden", is_flag=True, help="Skip the golden tests of affected pipelines.")
@click.option(
    "--perspective",
    type=click.Choice(["consumer", "producer"]),
    help="Whose view makes a contract change breaking (default: runink.yaml, else consumer).",
)
@click.option("--jobs", type=click.IntRange(min=1), help="Golden tests at once (default: cores).")
def audit_command(
    path: Path,
    base: str,
    head: str | None,
    output: str,
    junit: Path | None,
    no_golden: bool,
    perspective: str | None,
    jobs: int | None,
) -> None:
    """Check a change from --base to --head (or the working directory) like a PR check.

    Lints and compiles what the change touches, classifies contract changes and
    applies the version rule, finds the affected pipelines by comparing compiled
    Plans, runs their golden tests, and shows what the controllers would do after
    merge. Under GitHub Actions it also emits annotations and a job summary.

    Exit status: 0 pass, 1 findings at error level, 2 usage or internal error.
    """
    try:
        report = audit(
            path, base, head, golden=not no_golden, perspective=perspective, workers=jobs
        )
    except RuninkError as error:
        fail_on(error, "json" if output == "json" else "text")
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_bytes(junit_xml(report))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        stream = sys.stdout if output == "text" else sys.stderr
        for line in github_annotations(report, _prefix(path)):
            print(line, file=stream)
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(markdown(report) + "\n")
    if output == "text":
        sys.stdout.write(text(report))
    elif output == "markdown":
        sys.stdout.write(markdown(report))
    else:
        emit_data(report.to_dict(), output)
    raise SystemExit(EXIT_OK if report.ok else EXIT_FINDINGS)


def _prefix(path: Path) -> str:
    """``path`` relative to the current directory, for annotation file names."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return ""
    return "" if str(rel) == "." else rel.as_posix()
