"""``runi run``: compile a scenario and run it locally as a process graph."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from agent.isolation import HerdIsolation, IsolatedSpawner, IsolationError, load_secrets
from runink.cli.compile import PATH_ARGUMENT, REV_OPTION, load_and_compile
from runink.cli.output import (
    EXIT_FINDINGS,
    EXIT_OK,
    OUTPUT_OPTION,
    console,
    emit_data,
    emit_findings,
)
from runink.compiler import Plan
from runink.repo import RepoSnapshot
from runink.runtime.executor import Executor, RunResult, SliceStatus
from runink.runtime.spawn import LocalSpawner, Spawner


def _table(statuses: Mapping[str, SliceStatus], title: str) -> Table:
    table = Table(
        "slice",
        "state",
        "in",
        "out",
        "dlq",
        "filtered",
        "seconds",
        "records/s",
        title=title,
        box=None,
        pad_edge=False,
    )
    for s in statuses.values():
        c = s.counts
        rate = c.get("in", 0) / s.seconds if s.seconds else 0.0
        table.add_row(
            s.id,
            s.state,
            str(c.get("in", 0)),
            str(c.get("out", 0)),
            str(c.get("dlq", 0) + c.get("routed_dlq", 0)),
            str(c.get("filtered", 0)),
            f"{s.seconds:.2f}",
            f"{rate:,.0f}",
        )
    return table


@click.command("run")
@PATH_ARGUMENT
@click.option(
    "--scenario",
    "feature",
    metavar="FILE",
    required=True,
    help="The feature file whose scenarios to run (e.g. features/trades.dsl).",
)
@click.option("--name", help="Run only the scenario with this name.")
@click.option("--input", "source", metavar="URI", help="Read this URI instead of the @source.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Where relative source paths resolve (default: the repository root); e.g. the "
    "run dir of an earlier run, to read what it wrote.",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where sinks, the DLQ and run.json go (default: runs/<pipeline>/<time>).",
)
@click.option(
    "--secrets-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="YAML/JSON {herd: {name: value}} with the herds' secret values (also read from "
    "RUNINK_SECRET_<HERD>_<NAME>); they reach slices on a tmpfs, never disk or logs.",
)
@click.option(
    "--no-isolation",
    is_flag=True,
    help="Debugging only: run slices as plain processes (no cgroups, namespaces, "
    "network policy or secrets).",
)
@REV_OPTION
@OUTPUT_OPTION
def run_command(
    path: Path,
    feature: str,
    name: str | None,
    source: str | None,
    data_dir: Path | None,
    run_dir: Path | None,
    secrets_file: Path | None,
    no_isolation: bool,
    rev: str | None,
    output: str,
) -> None:
    """Run a feature's scenarios locally: one process per step, joined by pipes.

    Each slice runs isolated: in its herd's cgroup (quota) and network namespace, in
    new PID, mount, UTS and IPC namespaces, with the herd's secrets on a tmpfs.

    Exit status: 0 when every run succeeded, 1 when a run failed or the feature does
    not compile, 2 usage error.
    """
    snapshot, compiled = load_and_compile(path, rev, feature, output)
    if compiled.findings.errors:
        emit_findings(compiled.findings, output)
        raise SystemExit(EXIT_FINDINGS)
    plans = [p for p in compiled.plans if name is None or p.scenario == name]
    if not plans:
        names = ", ".join(repr(p.scenario) for p in compiled.plans)
        click.echo(f"runi: no scenario {name!r} in {feature}; scenarios: {names}", err=True)
        raise SystemExit(2)
    contracts = {c.id: c.document for c in snapshot.contracts}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: list[RunResult] = []
    spawner = _spawner(snapshot, {p.herd for p in plans}, secrets_file, no_isolation)
    try:
        _run_plans(
            plans,
            spawner,
            snapshot,
            contracts,
            path,
            source,
            data_dir,
            run_dir,
            stamp,
            output,
            results,
        )
    except IsolationError as exc:
        _isolation_failed(exc)
    finally:
        if isinstance(spawner, IsolatedSpawner):
            spawner.close()
    if output != "text":
        emit_data([r.to_dict() for r in results], output)
    raise SystemExit(EXIT_OK if all(r.ok for r in results) else EXIT_FINDINGS)


def _isolation_failed(exc: IsolationError) -> None:
    click.echo(f"runi: isolation: {exc.message}", err=True)
    if exc.hint:
        click.echo(f"    hint: {exc.hint}", err=True)
    raise SystemExit(EXIT_FINDINGS)


def _spawner(
    snapshot: RepoSnapshot, herds: set[str], secrets_file: Path | None, no_isolation: bool
) -> Spawner:
    """The isolating spawner (the default), or plain processes, said loudly."""
    err = console(stderr=True)
    if no_isolation:
        err.print(
            "[bold red]WARNING: --no-isolation: slices run as plain processes: no cgroups, "
            "no namespaces, no network policy, no secrets. For debugging only.[/bold red]"
        )
        return LocalSpawner()
    declared = {h.name: h.secrets for h in snapshot.herds}
    try:
        secrets = load_secrets(declared, secrets_file, os.environ)
        spawner = IsolatedSpawner(
            {h.name: HerdIsolation.from_herd(h, secrets.values.get(h.name)) for h in snapshot.herds}
        )
    except IsolationError as exc:
        _isolation_failed(exc)
    for herd in sorted(herds):
        if secrets.missing.get(herd):
            names = ", ".join(secrets.missing[herd])
            err.print(
                f"[yellow]note:[/yellow] herd {herd} declares secret(s) {names}; no value "
                f"given (--secrets-file, or RUNINK_SECRET_{herd.upper()}_<NAME>)",
                markup=True,
            )
        for skipped in spawner.skipped(herd):
            err.print(f"[yellow]best-effort:[/yellow] herd {herd} runs without {skipped}")
    return spawner


def _run_plans(
    plans: list[Plan],
    spawner: Spawner,
    snapshot: RepoSnapshot,
    contracts: Mapping[str, Mapping[str, Any]],
    path: Path,
    source: str | None,
    data_dir: Path | None,
    run_dir: Path | None,
    stamp: str,
    output: str,
    results: list[RunResult],
) -> None:
    for plan in plans:
        target = (
            run_dir
            if run_dir is not None and len(plans) == 1
            else ((run_dir or Path("runs")) / plan.pipeline / stamp)
        )
        interactive = output == "text" and sys.stdout.isatty()
        live = Live(console=console(), transient=True, refresh_per_second=4)

        def show(
            statuses: Mapping[str, SliceStatus], live: Live = live, title: str = plan.pipeline
        ) -> None:
            live.update(_table(statuses, title))

        with live if interactive else _Null():
            result = Executor(spawner).run(
                plan,
                contracts=contracts,
                repo_dir=path.resolve(),
                data_dir=(data_dir or path).resolve(),
                run_dir=target.resolve(),
                source=source,
                on_progress=show if interactive else None,
                repository=snapshot.settings.name if snapshot.settings else None,
            )
        results.append(result)
        if output == "text":
            _summary(result)


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def _summary(result: RunResult) -> None:
    out = console()
    statuses = {s.id: s for s in result.slices}
    out.print(_table(statuses, f"{result.pipeline}  run {result.run_id}"))
    t = result.totals
    colour = "green" if result.ok else "red"
    out.print(
        f"[{colour}]{result.outcome}[/{colour}]: read {t['read']}, written {t['written']}, "
        f"dlq {t['dlq']}, filtered {t['filtered']}  ->  {result.run_dir}/run.json"
    )
    for problem in result.problems:
        out.print(f"[red]count mismatch:[/red] {problem}")
    for s in result.slices:
        if s.state in ("failed", "OOMKilled"):
            out.print(f"[red]{s.id} failed:[/red] {s.error}")
            if s.traceback:
                out.print(s.traceback, markup=False)
