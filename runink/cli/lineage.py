"""``runi lineage log|show|verify``: the lineage branch of a clone, read offline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from runink.cli.output import EXIT_FINDINGS, EXIT_OK, OUTPUT_OPTION, console, emit_data, fail_on
from runink.findings import Finding, Position, RuninkError, did_you_mean
from runink.lineage.graph import FORMATS, render
from runink.lineage.history import Clone, RunEntry, open_clone, read_commits, run_entries
from runink.lineage.sigstore import BUNDLE_FILE, policy_at_head
from runink.lineage.verify import verify

REPO_OPTION = click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The clone (or bare repository) to read.",
)
BRANCH_OPTION = click.option(
    "--branch", help="The lineage branch (default: runink.yaml spec.lineage.branch at HEAD)."
)


@click.group("lineage")
def lineage_group() -> None:
    """What ran, as committed and signed on the lineage branch (offline, read-only)."""


def _clone(repo: Path, branch: str | None, output: str, signers: Path | None = None) -> Clone:
    try:
        return open_clone(repo, branch, signers)
    except RuninkError as error:
        fail_on(error, output)
        raise  # fail_on exits; this satisfies the type checker


@lineage_group.command("log")
@REPO_OPTION
@BRANCH_OPTION
@click.option("--herd", help="Only runs of this herd.")
@click.option("--pipeline", help="Only runs of this pipeline (<herd>/<feature>/<scenario>).")
@click.option("--dataset", help="Only runs that read or wrote this dataset (<namespace>/<name>).")
@OUTPUT_OPTION
def log_command(
    repo: Path,
    branch: str | None,
    herd: str | None,
    pipeline: str | None,
    dataset: str | None,
    output: str,
) -> None:
    """Committed runs, newest first: time, pipeline, run id, outcome, records, revision, signer."""
    clone = _clone(repo, branch, output)
    try:
        entries = run_entries(clone)
    except RuninkError as error:
        fail_on(error, output)
    shown = [
        e
        for e in entries
        if (herd is None or e.pipeline.split("/", 1)[0] == herd)
        and (pipeline is None or e.pipeline == pipeline)
        and (dataset is None or any(d == dataset or d.endswith("/" + dataset) for d in e.datasets))
    ]
    if output != "text":
        emit_data([e.to_dict() for e in shown], output)
        return
    keyless = _keyless(clone) if any(e.signature != "G" for e in shown) else set()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("TIME", "PIPELINE", "RUN", "OUTCOME", "IN", "OUT", "DLQ", "REVISION", "SIGNER"):
        table.add_column(column)
    for e in shown:
        table.add_row(
            e.time[:19].replace("T", " "),
            escape(e.pipeline),
            e.run_id,
            _outcome(e.outcome),
            _count(e.records_in),
            _count(e.records_out),
            _count(e.records_dlq),
            escape(e.revision.rsplit(":", 1)[-1][:12] or "-"),
            _signer(e, keyless),
        )
    out = console()
    out.print(table)
    if not shown:
        out.print("[dim]no runs on the lineage branch match[/]")


@lineage_group.command("show")
@click.argument("run_id")
@REPO_OPTION
@BRANCH_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text, or a graph for Graphviz (dot) or Mermaid.",
)
def show_command(run_id: str, repo: Path, branch: str | None, fmt: str) -> None:
    """RUN_ID's events and its dataset graph (inputs -> pipeline -> outputs)."""
    clone = _clone(repo, branch, "text")
    try:
        entries = run_entries(clone)
    except RuninkError as error:
        fail_on(error, "text")
    entry = next((e for e in entries if e.run_id == run_id), None)
    if entry is None:
        fail_on(_no_such_run(run_id, entries, clone), "text")
        return
    click.echo(render(entry, fmt), nl=False)


@lineage_group.command("verify")
@REPO_OPTION
@BRANCH_OPTION
@click.option("--since", help="Check only commits after this revision.")
@click.option(
    "--allowed-signers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="git allowed-signers file (default: runink.yaml spec.allowedSigners at HEAD).",
)
@click.option(
    "--sigstore-identity",
    help="Identity that may sign keyless (default: runink.yaml spec.lineage.sigstore.identity).",
)
@click.option(
    "--sigstore-issuer",
    help="OIDC issuer of that identity (default: runink.yaml spec.lineage.sigstore.issuer).",
)
@click.option(
    "--sigstore-trusted-root",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sigstore trusted_root.json (default: the one sigstore-python ships).",
)
@OUTPUT_OPTION
def verify_command(
    repo: Path,
    branch: str | None,
    since: str | None,
    allowed_signers: Path | None,
    sigstore_identity: str | None,
    sigstore_issuer: str | None,
    sigstore_trusted_root: Path | None,
    output: str,
) -> None:
    """Every commit signed by an allowed signer (or a Sigstore bundle), every file valid
    OpenLineage, trailers true. Offline.

    Exits 0 when all holds, 1 naming each failing commit and what is wrong with it.
    """
    clone = _clone(repo, branch, output, allowed_signers)
    settled = policy_at_head(clone.path)
    policy = replace(
        settled,
        identity=sigstore_identity or settled.identity,
        issuer=sigstore_issuer or settled.issuer,
        trusted_root=sigstore_trusted_root,
    )
    try:
        result = verify(clone, since, policy=policy)
    except RuninkError as error:
        fail_on(error, output)
    if output != "text":
        emit_data(
            {
                "ok": result.ok,
                "commits": result.commits,
                "runs": result.runs,
                "problems": [p.to_dict() for p in result.problems],
            },
            output,
        )
    else:
        out = console()
        for problem in result.problems:
            out.print(f"[red]FAIL[/] {escape(str(problem))}")
        verdict = "[green]ok[/]" if result.ok else f"[red]{len(result.problems)} problem(s)[/]"
        out.print(f"{clone.ref}: {result.commits} commit(s), {result.runs} run(s): {verdict}")
    raise SystemExit(EXIT_OK if result.ok else EXIT_FINDINGS)


def _keyless(clone: Clone) -> set[str]:
    """Commits that carry a Sigstore bundle instead of a git signature."""
    return {
        c.sha
        for c in read_commits(clone)
        if any(ch.status == "A" and BUNDLE_FILE.match(ch.path) for ch in c.changes)
    }


def _signer(entry: RunEntry, keyless: set[str]) -> str:
    if entry.signature == "G":
        return escape(entry.signer or "-")
    if entry.commit in keyless:
        return "[yellow]sigstore (runi lineage verify)[/]"
    return f"[red]{escape(entry.signer or 'unsigned')}[/]"


def _outcome(outcome: str) -> str:
    colour = {"COMPLETE": "green", "FAIL": "red"}.get(outcome, "yellow")
    return f"[{colour}]{outcome}[/]"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _no_such_run(run_id: str, entries: list[RunEntry], clone: Clone) -> RuninkError:
    return RuninkError(
        [
            Finding(
                "lineage.no-run",
                f"no run {run_id} on {clone.ref}",
                Position(str(clone.path)),
                "RUN_ID",
                did_you_mean(run_id, [e.run_id for e in entries])
                or "runi lineage log lists the committed runs",
            )
        ]
    )
