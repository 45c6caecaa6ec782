"""Rendering shared by every command: findings, tables, machine formats, exit codes."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click
import orjson
import yaml
from rich.console import Console
from rich.markup import escape

from runink.findings import Finding, RuninkError, Severity

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

OUTPUT_OPTION = click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    show_default=True,
    help="Output format: human text, or json/yaml for machines.",
)


def console(stderr: bool = False) -> Console:
    """A console for people; piped output is never truncated to a terminal width."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 10_000
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def emit_data(data: Any, output: str) -> None:
    """Print ``data`` as JSON or YAML on stdout."""
    if output == "json":
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def emit_findings(findings: Iterable[Finding], output: str) -> None:
    """Print findings: one per line (with hint) for people, a list for machines."""
    items = list(findings)
    if output != "text":
        emit_data([f.to_dict() for f in items], output)
        return
    out = console()
    for f in items:
        colour = "red" if f.severity is Severity.ERROR else "yellow"
        key = f" [bold]{escape(f.key)}[/bold]:" if f.key else ""
        out.print(
            f"{escape(str(f.position))}: [{colour}]{f.severity.value}[/{colour}]"
            f"[dim]\\[{escape(f.code)}][/dim]:{key} {escape(f.message)}"
        )
        if f.hint:
            out.print(f"    [dim]hint:[/dim] {escape(f.hint)}")


def fail_on(error: RuninkError, output: str) -> None:
    """Report a RuninkError (nothing to work on) and exit 2."""
    if output == "text":
        emit_findings(error.findings, output)
    else:
        emit_data([f.to_dict() for f in error.findings], output)
    raise SystemExit(EXIT_USAGE)
