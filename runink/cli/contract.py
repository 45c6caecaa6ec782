"""``runi contract``: work with data contracts (``diff``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from rich.markup import escape

from runink.cli.output import EXIT_FINDINGS, EXIT_OK, console, emit_data, fail_on
from runink.contracts.diff import PERSPECTIVES, diff_contracts, worst
from runink.findings import Finding, Position, RuninkError
from runink.repo.schemas import CONTRACT_SCHEMA, validate
from runink.yamlpos import YamlDocument, parse_yaml


@click.group("contract")
def contract() -> None:
    """Data contracts (ODCS v3): compare versions."""


def _read(spec: str) -> tuple[str, str]:
    """(label, text) of a file path or ``REV:path`` (read from git, no checkout)."""
    if Path(spec).is_file():
        return spec, Path(spec).read_text(encoding="utf-8")
    rev, sep, rel = spec.partition(":")
    if sep and rev and rel:
        relative = rel if rel.startswith(("/", "./")) else f"./{rel}"
        shown = subprocess.run(
            ["git", "show", f"{rev}:{relative}"], capture_output=True, check=False, timeout=60
        )
        if shown.returncode == 0:
            return spec, shown.stdout.decode("utf-8", "replace")
        reason = shown.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuninkError(
            [
                Finding(
                    "contract.unreadable",
                    f"cannot read {spec}: {reason[-1] if reason else 'git show failed'}",
                    Position(spec),
                    hint="REV:path names a file as committed, e.g. main:contracts/trade.yaml",
                )
            ]
        )
    raise RuninkError(
        [
            Finding(
                "contract.unreadable",
                f"{spec} is not a file",
                Position(spec),
                hint="pass a contract file, or REV:path (e.g. origin/main:contracts/trade.yaml)",
            )
        ]
    )


def _document(spec: str) -> YamlDocument:
    label, body = _read(spec)
    doc, problems = parse_yaml(body, label)
    if doc is None or problems:
        raise RuninkError(
            problems or [Finding("contract.empty", "no YAML document", Position(label))]
        )
    schema_findings = validate(doc, CONTRACT_SCHEMA)
    if schema_findings:
        raise RuninkError(schema_findings)
    return doc


@contract.command("diff")
@click.argument("old")
@click.argument("new")
@click.option(
    "--perspective",
    type=click.Choice(PERSPECTIVES),
    default="consumer",
    show_default=True,
    help="consumer: what breaks readers; producer: what breaks writers.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(["text", "json", "yaml"]),
    default="text",
    show_default=True,
    help="Output format: human text, or json/yaml for machines.",
)
def diff_command(old: str, new: str, perspective: str, output: str) -> None:
    """Classify every change from contract OLD to NEW (files, or REV:path).

    Each change has a rule id, a severity (error = breaking, warning = may break,
    info) for the chosen perspective, the field path, and its position: NEW's, or
    OLD's for a removal. The version rule says whether the version moved enough.

    Exit status: 0 no breaking change, 1 a breaking change, 2 usage error.
    """
    try:
        before, after = _document(old), _document(new)
    except RuninkError as error:
        fail_on(error, output)
    result = diff_contracts(before, after)
    problem = result.version_problem(perspective)
    breaking = result.breaking(perspective)
    if output != "text":
        emit_data(
            {
                "old": old,
                "new": new,
                "perspective": perspective,
                "breaking": breaking,
                "severity": worst(result.changes, perspective),
                "old_version": result.old_version,
                "new_version": result.new_version,
                "changes": [c.to_dict(perspective) for c in result.changes],
                "version": None if problem is None else problem.to_dict(perspective),
            },
            output,
        )
        raise SystemExit(EXIT_FINDINGS if breaking else EXIT_OK)
    out = console()
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for change in result.changes:
        severity = change.severity(perspective)
        out.print(
            f"{escape(str(change.position))}: [{colours[severity]}]{severity}"
            f"[/{colours[severity]}] [dim]\\[{change.rule}][/dim] "
            f"{escape(change.path)}: {escape(change.message)}"
        )
    if problem is not None:
        severity = problem.severity(perspective)
        out.print(
            f"{escape(str(problem.position))}: [{colours[severity]}]{severity}"
            f"[/{colours[severity]}] [dim]\\[{problem.rule}][/dim] {escape(problem.message)}"
        )
    errors = len(result.errors(perspective))
    verdict = "breaking" if breaking else "compatible"
    print(
        f"{len(result.changes)} change(s), {errors} breaking for {perspective}s: {verdict}; "
        f"version {result.old_version} -> {result.new_version}",
        file=sys.stderr,
    )
    raise SystemExit(EXIT_FINDINGS if breaking else EXIT_OK)
