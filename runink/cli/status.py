"""``runi status``: herds, pipelines and runs as the server sees them. Read-only.

Every call it makes is a read RPC (Status service); no option makes it write.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from runink.api.client import ApiClient, ApiError, to_dict
from runink.api.protos import runink_pb2 as pb
from runink.cli.connect import connection_options, fail, open_client
from runink.cli.output import EXIT_OK, console, emit_data

COLUMNS = (
    "HERD",
    "PIPELINE",
    "REVISION",
    "SYNC",
    "HEALTH",
    "SLICES",
    "LAST-RUN",
    "RECORDS",
    "DLQ",
    "AGE",
    "MESSAGE",
)
WIDE_COLUMNS = (*COLUMNS[:3], "DESIRED", *COLUMNS[3:7], "RUN-ID", "TRIGGER", "READ", *COLUMNS[7:])
_COLOURS = {
    "Synced": "green",
    "OutOfSync": "yellow",
    "Healthy": "green",
    "Progressing": "cyan",
    "Degraded": "red",
    "Missing": "yellow",
    "Suspended": "blue",
    "succeeded": "green",
    "failed": "red",
    "True": "green",
    "False": "red",
}
RECENT_RUNS = 5


def age(timestamp: str, now: datetime | None = None) -> str:
    """``2026-01-01T00:00:00+00:00`` -> ``3m`` / ``5h`` / ``2d`` ago; ``-`` if unknown."""
    if not timestamp:
        return "-"
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return "-"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _short(revision: str) -> str:
    return revision[:7] if revision else "-"


def _coloured(value: str) -> Text:
    return Text(value or "-", style=_COLOURS.get(value, ""))


def _local(herd: str, pipeline: str) -> str:
    return pipeline.removeprefix(f"{herd}/")


def pipelines_table(rows: list[pb.PipelineSummary], wide: bool, now: datetime) -> Table:
    """The table of ``runi status`` (``wide`` adds desired revision, run id, trigger)."""
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in WIDE_COLUMNS if wide else COLUMNS:
        table.add_column(column, no_wrap=column != "MESSAGE", overflow="fold")
    for r in rows:
        last_run = Text("-")
        if r.last_run_outcome:
            last_run = _coloured(r.last_run_outcome)
            last_run.append(f" {age(r.last_run_at, now)}", style="")
        revision = _short(r.revision)
        if r.revision and r.desired_revision and r.revision != r.desired_revision and not wide:
            revision += f"→{_short(r.desired_revision)}"
        cells: list[str | Text] = [
            r.herd,
            _local(r.herd, r.pipeline),
            revision,
            _coloured(r.sync),
            _coloured(r.health),
            f"{r.slices_ready}/{r.slices_total}",
            last_run,
            str(r.records_written) if r.last_run_id else "-",
            str(r.records_dlq) if r.last_run_id else "-",
            age(r.updated_at, now),
            r.message,
        ]
        if wide:
            cells[3:3] = [_short(r.desired_revision)]
            cells[8:8] = [r.last_run_id or "-", r.trigger or "-", str(r.records_read)]
        table.add_row(*cells)
    return table


def _runs_table(runs: list[pb.RunSummary], now: datetime) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in ("RUN", "OUTCOME", "STARTED", "DURATION", "READ", "WRITTEN", "DLQ", "NODE"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        table.add_row(
            run.run_id,
            _coloured(run.outcome),
            f"{age(run.started_at, now)} ago" if run.started_at else "-",
            _duration(run.started_at, run.ended_at),
            str(run.totals.get("read", 0)),
            str(run.totals.get("written", 0)),
            str(run.totals.get("dlq", 0)),
            run.node or "-",
        )
    return table


def _duration(start: str, end: str) -> str:
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return "-"
    return f"{seconds:.1f}s" if seconds < 120 else age(start, datetime.fromisoformat(end))


def _count_columns(steps: list[pb.StepStatus]) -> list[str]:
    preferred = ["in", "out", "consumed", "filtered", "dlq", "routed_dlq"]
    seen = {k for s in steps for k in s.counts}
    return [k for k in preferred if k in seen] + sorted(seen - set(preferred))


def render_run(run: pb.RunSummary, now: datetime) -> None:
    """One run: header lines, then a table of its steps and their counts."""
    out = console()
    out.print(f"[bold]Run[/bold]       {run.run_id}")
    out.print(f"Pipeline  {run.pipeline}")
    out.print(f"Revision  {run.revision or '-'}")
    outcome = _coloured(run.outcome)
    out.print(Text("Outcome   ").append_text(outcome))
    out.print(f"Started   {run.started_at or '-'} ({age(run.started_at, now)} ago)")
    out.print(
        f"Ended     {run.ended_at or '-'}  duration {_duration(run.started_at, run.ended_at)}"
    )
    out.print(f"Node      {run.node or '-'}")
    totals = ", ".join(f"{k} {v}" for k, v in sorted(run.totals.items()))
    out.print(f"Totals    {totals or '-'}")
    steps = list(run.steps)
    counts = _count_columns(steps)
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in ("STEP", "KIND", "NAME", "STATE", *(c.upper() for c in counts), "EXIT", "ERROR"):
        table.add_column(column, no_wrap=column != "ERROR", overflow="fold")
    for s in steps:
        table.add_row(
            s.id,
            s.kind,
            s.name,
            _coloured(s.state),
            *(str(s.counts.get(c, 0)) for c in counts),
            str(s.exit_code) if s.has_exit_code else "-",
            s.error,
        )
    out.print()
    out.print(table)
    for problem in run.problems:
        out.print(f"[red]problem:[/red] {problem}")


def render_pipeline(
    reply: pb.PipelineReply, runs: list[pb.RunSummary] | None, now: datetime
) -> None:
    """One pipeline: its row, conditions, slices and recent runs."""
    out = console()
    s = reply.summary
    out.print(f"[bold]Pipeline[/bold]  {s.pipeline}")
    out.print(f"Trigger   {s.trigger or '-'}")
    out.print(f"Revision  {s.revision or '-'} (desired {s.desired_revision or '-'})")
    out.print(Text("Sync      ").append_text(_coloured(s.sync)))
    out.print(Text("Health    ").append_text(_coloured(s.health)))
    if s.message:
        out.print(f"Message   {s.message}")
    out.print()
    conditions = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in ("CONDITION", "STATUS", "REASON", "AGE", "MESSAGE"):
        conditions.add_column(column, no_wrap=column != "MESSAGE", overflow="fold")
    for c in reply.conditions:
        conditions.add_row(
            c.type,
            _coloured(c.status),
            c.reason or "-",
            age(c.last_transition_time, now),
            c.message,
        )
    if reply.conditions:
        out.print(conditions)
    else:
        out.print("no conditions reported yet")
    if reply.slices:
        out.print()
        slices = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
        for column in ("SLICE", "NODE", "STATE", "RESTARTS", "MESSAGE"):
            slices.add_column(column, no_wrap=column != "MESSAGE", overflow="fold")
        for sl in reply.slices:
            slices.add_row(sl.slice, sl.node, _coloured(sl.state), str(sl.restarts), sl.message)
        out.print(slices)
    out.print()
    if runs is None:
        out.print("recent runs: not shown (the token lacks read:runs)")
    elif runs:
        out.print("[bold]Recent runs[/bold]")
        out.print(_runs_table(runs, now))
    else:
        out.print("no runs yet")


def source_problems(client: ApiClient, herd: str) -> list[tuple[str, pb.Condition]]:
    """(source, condition) for every False condition of the sources ``herd`` is applied from.

    ``LineageSigned=False`` (``SigningDisabled``: ``spec.lineage.signing: none``) is one:
    an opt-out of signing stays in view. A token that may not read sources sees none.
    """
    if not herd:
        return []
    try:
        sources = client.get_source(herd)
    except ApiError:
        return []
    return [(s.repo, c) for s in sources for c in s.conditions if c.status == "False"]


def sources_table(problems: list[tuple[str, pb.Condition]], now: datetime) -> Table:
    """Source conditions, shown like a pipeline's conditions, with the source's name first."""
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for column in ("SOURCE", "CONDITION", "STATUS", "REASON", "AGE", "MESSAGE"):
        table.add_column(column, no_wrap=column != "MESSAGE", overflow="fold")
    for repo, c in problems:
        table.add_row(
            repo,
            c.type,
            _coloured(c.status),
            c.reason or "-",
            age(c.last_transition_time, now),
            c.message,
        )
    return table


def _print_sources(problems: list[tuple[str, pb.Condition]], now: datetime) -> None:
    if problems:
        console().print()
        console().print(sources_table(problems, now))


def _split_target(target: str | None, herd: str | None) -> tuple[str, str]:
    """(herd, pipeline) from ``HERD`` or ``HERD/FEATURE/SCENARIO`` and --herd."""
    if not target:
        return herd or "", ""
    first, _, rest = target.partition("/")
    if herd and herd != first:
        fail(f"--herd {herd} and target {target} name different herds")
    if rest and rest.count("/") != 1:
        fail(
            f"{target!r} is not HERD or HERD/FEATURE/SCENARIO (e.g. finance/trades/validate-trades)"
        )
    return first, target if rest else ""


def _snapshot(
    client: ApiClient, herd: str, pipeline: str, run_id: str | None, wide: bool
) -> tuple[Any, Callable[[datetime], None]]:
    """Fetch once: the machine form and a function printing the human form."""
    if run_id:
        run = client.get_run(herd, run_id)
        return to_dict(run), lambda now: render_run(run, now)
    if pipeline:
        reply = client.get_pipeline(herd, pipeline)
        runs: list[pb.RunSummary] | None
        try:
            runs = client.list_runs(herd, pipeline, RECENT_RUNS)
        except ApiError as exc:
            if exc.code != "PERMISSION_DENIED":
                raise
            runs = None
        data = {
            **to_dict(reply.summary),
            "conditions": [to_dict(c) for c in reply.conditions],
            "slices": [to_dict(s) for s in reply.slices],
            "runs": None if runs is None else [to_dict(r) for r in runs],
        }
        problems = source_problems(client, herd)

        def pipeline_view(now: datetime) -> None:
            render_pipeline(reply, runs, now)
            _print_sources(problems, now)

        return data, pipeline_view
    rows = client.list_pipelines(herd)
    problems = source_problems(client, herd or (rows[0].herd if rows else ""))

    def table(now: datetime) -> None:
        if rows:
            console().print(pipelines_table(rows, wide, now))
        else:
            console().print("no pipelines (none applied yet, or none the token may read)")
        _print_sources(problems, now)

    return [to_dict(r) for r in rows], table


@click.command("status")
@click.argument("target", required=False)
@click.option("--herd", default=None, help="Only this herd (or the herd of --runid).")
@click.option("--runid", "run_id", default=None, help="Show one run: its steps and counts.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "wide", "json", "yaml"]),
    default="table",
    show_default=True,
    help="table for people (wide: more columns), json/yaml for machines.",
)
@click.option("-w", "--watch", is_flag=True, help="Refresh until interrupted (Ctrl-C).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@connection_options
def status_command(
    target: str | None,
    herd: str | None,
    run_id: str | None,
    output: str,
    watch: bool,
    interval: float,
    server: str,
    token: str | None,
    ca: Path | None,
    cert: Path | None,
    key_file: Path | None,
) -> None:
    """Show herds and pipelines: sync, health, slices, last run (read-only).

    \b
    runi status                          every pipeline the token may read
    runi status finance                  one herd
    runi status finance/trades/validate-trades   one pipeline: conditions, recent runs
    runi status --herd finance --runid RUN       one run: steps and counts
    """
    herd_name, pipeline = _split_target(target, herd)
    if run_id and not herd_name:
        fail("--runid needs --herd HERD (run ids are looked up inside a herd)")
    if not token:
        fail("no token: pass --token or set RUNINK_TOKEN (mint one with `runi token mint`)")
    client = open_client(server, token, ca, cert, key_file)
    out = console()
    try:
        while True:
            try:
                data, render = _snapshot(client, herd_name, pipeline, run_id, output == "wide")
            except ApiError as exc:
                fail(str(exc))
            now = datetime.now(UTC)
            if watch and output in ("table", "wide") and sys.stdout.isatty():
                out.clear()
            if output in ("json", "yaml"):
                emit_data(data, output)
            else:
                render(now)
            sys.stdout.flush()
            if not watch:
                return
            time.sleep(interval)
            if output in ("table", "wide") and not sys.stdout.isatty():
                out.print()
    except KeyboardInterrupt:
        raise SystemExit(EXIT_OK) from None
    finally:
        client.close()
