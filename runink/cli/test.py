"""``runi test``: run every scenario with a golden set and compare."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import click

from runink.cli.compile import PATH_ARGUMENT, REV_OPTION, SCENARIO_OPTION, load_and_compile
from runink.cli.output import (
    EXIT_FINDINGS,
    EXIT_OK,
    OUTPUT_OPTION,
    console,
    emit_data,
    emit_findings,
)
from runink.runtime.golden import GoldenResult, run_golden, update_golden


def _junit(results: list[GoldenResult], path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="runink golden",
        tests=str(len(results)),
        failures=str(sum(not r.passed for r in results)),
    )
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.plan.herd, name=r.plan.pipeline)
        if not r.passed:
            lines = r.describe()
            failure = ET.SubElement(case, "failure", message=lines[0] if lines else "failed")
            failure.text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


@click.command("test")
@PATH_ARGUMENT
@SCENARIO_OPTION
@REV_OPTION
@click.option("--update", is_flag=True, help="Write the actual output as the new expected files.")
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), help="Write JUnit XML here."
)
@OUTPUT_OPTION
def test_command(
    path: Path, feature: str | None, rev: str | None, update: bool, junit: Path | None, output: str
) -> None:
    """Run each scenario that has a @golden set on its input and compare output and DLQ.

    Exit status: 0 when every golden test passes, 1 otherwise, 2 usage error.
    """
    snapshot, compiled = load_and_compile(path, rev, feature, output)
    if compiled.findings.errors:
        emit_findings(compiled.findings, output)
        raise SystemExit(EXIT_FINDINGS)
    plans = [p for p in compiled.plans if p.golden]
    results = [run_golden(p, snapshot, path.resolve()) for p in plans]
    if update:
        for r in results:
            if r.run.ok:
                update_golden(r, path.resolve())
    if junit is not None:
        _junit(results, junit)
    if output == "text":
        out = console()
        for r in results:
            mark = "[green]PASS[/green]" if r.passed else "[red]FAIL[/red]"
            out.print(f"{mark} {r.plan.pipeline}  ({r.golden})")
            for line in r.describe():
                out.print(f"     {line}", markup=False)
        passed = sum(r.passed for r in results)
        console(stderr=True).print(
            f"{passed} of {len(results)} golden test(s) passed"
            + ("; expected files updated" if update else "")
        )
    else:
        emit_data(
            [
                {
                    "pipeline": r.plan.pipeline,
                    "golden": r.golden,
                    "passed": r.passed,
                    "run": r.run.outcome,
                    "output": r.output.to_dict(),
                    "dlq": r.dlq.to_dict(),
                }
                for r in results
            ],
            output,
        )
    raise SystemExit(EXIT_OK if update or all(r.passed for r in results) else EXIT_FINDINGS)
