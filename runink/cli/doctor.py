"""``runi doctor``: what isolation this host gives slices, and each herd of a repository."""

from __future__ import annotations

from pathlib import Path

import click

from agent.isolation import HerdIsolation, HostReport, doctor
from runink.cli.output import EXIT_OK, OUTPUT_OPTION, console, emit_data
from runink.repo import load_repo


@click.command("doctor")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), required=False)
@OUTPUT_OPTION
def doctor_command(path: Path | None, output: str) -> None:
    """Report cgroups, namespaces, network namespaces and pipe limits of this host.

    With PATH (a pipeline repository), also what each of its herds would get here:
    a strict herd that would be refused says what is missing. Exit status 0.
    """
    herds: list[HerdIsolation] = []
    if path is not None:
        snapshot = load_repo(path)
        herds = [HerdIsolation.from_herd(h) for h in snapshot.herds]
    report = doctor(herds)
    if output != "text":
        emit_data(report.to_dict(), output)
    else:
        _print(report)
    raise SystemExit(EXIT_OK)


def _mark(ok: bool) -> str:
    return "[green]ok[/green]" if ok else "[red]no[/red]"


def _print(report: HostReport) -> None:
    out = console()
    out.print(f"[bold]kernel[/bold] {report.kernel}   root: {_mark(report.root)}")
    out.print(f"[bold]cgroups[/bold] {report.cgroup_version}")
    for h in report.hierarchies:
        out.print(f"  v{h['version']} {h['path']}  {' '.join(h['controllers']) or '-'}")
    for controller in ("memory", "cpu", "pids"):
        where = report.controllers.get(controller)
        out.print(f"  {controller:<7} {where or '[red]missing[/red]'}")
    out.print(f"  cgroup.kill: {_mark(report.cgroup_kill)}")
    out.print("[bold]namespaces[/bold]")
    for kind, result in report.namespaces.items():
        out.print(f"  {kind:<4} {_mark(result == 'ok')}{'' if result == 'ok' else '  ' + result}")
    users = report.user_namespaces
    out.print(f"  user {_mark(users['unshare'] == 'ok')}  (max_user_namespaces {users['max']})")
    out.print(f"[bold]netns via pyroute2[/bold] {_mark(report.netns == 'ok')}")
    out.print(f"[bold]pipe-max-size[/bold] {report.pipe_max_size} bytes")
    tools = ", ".join(f"{t}: {p or 'not installed'}" for t, p in report.tools.items())
    out.print(f"[bold]tools[/bold] {tools}")
    for herd in report.herds:
        head = f"[bold]herd {herd['name']}[/bold] ({herd['isolation']}, network {herd['network']})"
        if not herd["runs"]:
            out.print(f"{head}: [red]refused[/red]: {herd['reason']}")
            continue
        out.print(
            f"{head}: namespaces {' '.join(herd['namespaces'])}; "
            f"cgroup {' '.join(herd['controllers'])}"
        )
        for skipped in herd["skipped"]:
            out.print(f"  [yellow]skipped:[/yellow] {skipped}")
