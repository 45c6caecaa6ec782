"""``runi compile`` and ``runi graph``."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click
from rich.table import Table

from runink.cli.output import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    OUTPUT_OPTION,
    console,
    emit_data,
    emit_findings,
    fail_on,
)
from runink.compiler import Compiler, CompileResult, to_dot, to_mermaid
from runink.findings import Findings, RuninkError
from runink.repo import RepoSnapshot, load_repo

PATH_ARGUMENT = click.argument(
    "path", type=click.Path(file_okay=False, path_type=Path), default="."
)
REV_OPTION = click.option("--rev", help="Read this commit (from git, no checkout).")
SCENARIO_OPTION = click.option(
    "--scenario",
    "feature",
    metavar="FILE",
    help="Only this feature file (e.g. features/trades.dsl).",
)


def load_and_compile(
    path: Path, rev: str | None, feature: str | None, output: str
) -> tuple[RepoSnapshot, CompileResult]:
    """Read the repository once and compile it (or one feature); repository and
    compile findings together. Exits 2 when there is no repository to read."""
    try:
        snapshot = load_repo(path, rev)
    except RuninkError as error:
        fail_on(error, output)
    only = _feature_path(path, feature, [f.path for f in snapshot.features]) if feature else None
    result = Compiler().compile(snapshot, only=only)
    findings = Findings.of([*snapshot.findings, *result.findings])
    return snapshot, CompileResult(result.plans, findings, result.stats)


def _feature_path(root: Path, given: str, known: list[str]) -> str:
    """``given`` as a repo-relative path (it may be relative to the cwd or absolute)."""
    candidate = Path(given)
    if candidate.is_absolute() or candidate.exists():
        with contextlib.suppress(ValueError):  # outside the repo: reported below
            given = candidate.resolve().relative_to(root.resolve()).as_posix()
    if given not in known:
        click.echo(
            f"runi: no feature {given!r} in {root}; features: {', '.join(known) or 'none'}",
            err=True,
        )
        raise SystemExit(EXIT_USAGE)
    return given


@click.command("compile")
@PATH_ARGUMENT
@SCENARIO_OPTION
@REV_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each Plan to DIR/<herd>/<feature>/<scenario>.json.",
)
@OUTPUT_OPTION
def compile_command(
    path: Path, feature: str | None, rev: str | None, out: Path | None, output: str
) -> None:
    """Compile features into Plans: one per Scenario, stable JSON, content-hashed.

    Exit status: 0 when everything compiles, 1 on findings, 2 usage error.
    """
    _, result = load_and_compile(path, rev, feature, output)
    if out is not None:
        for plan in result.plans:
            target = out / f"{plan.pipeline}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(plan.to_json() + b"\n")
    if output == "text":
        emit_findings(result.findings, output)
        table = Table("pipeline", "trigger", "slices", "hash", box=None, pad_edge=False)
        for plan in result.plans:
            trigger = plan.trigger.kind + (f" {plan.trigger.cron}" if plan.trigger.cron else "")
            table.add_row(plan.pipeline, trigger, str(len(plan.nodes)), plan.hash[:12])
        if result.plans:
            console().print(table)
        stats = result.stats
        console(stderr=True).print(
            f"{len(result.plans)} plan(s) from {stats.features} feature(s); "
            f"{len(result.findings.errors)} error(s)"
            + (f"; written to {out}" if out is not None else "")
        )
    else:
        emit_data(
            {
                "plans": [p.to_dict() for p in result.plans],
                "findings": [f.to_dict() for f in result.findings],
            },
            output,
        )
    raise SystemExit(EXIT_FINDINGS if result.findings.errors else EXIT_OK)


@click.command("graph")
@PATH_ARGUMENT
@click.option(
    "--scenario",
    "feature",
    metavar="FILE",
    required=True,
    help="The feature file to draw (each scenario is one cluster).",
)
@REV_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dot", "mermaid"]),
    default="dot",
    show_default=True,
    help="Graphviz DOT (render with `dot -Tsvg`) or Mermaid.",
)
def graph_command(path: Path, feature: str, rev: str | None, fmt: str) -> None:
    """Draw a feature's pipelines: source, steps, sinks and the DLQ."""
    _, result = load_and_compile(path, rev, feature, "text")
    if result.findings.errors:
        emit_findings(result.findings, "text")
        raise SystemExit(EXIT_FINDINGS)
    sys.stdout.write(to_dot(result.plans) if fmt == "dot" else to_mermaid(result.plans))
