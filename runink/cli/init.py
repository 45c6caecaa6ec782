"""``runi init``: a ready pipeline repository, with the pull-request audit workflow."""

from __future__ import annotations

import re
from pathlib import Path

import click

from runink.cli.output import EXIT_OK, EXIT_USAGE, console

WORKFLOW = ".github/workflows/runink-audit.yml"

_WORKFLOW = """\
# Runink pull-request audit: lint, compile, contract breaking changes (version rule),
# affected pipelines and their golden tests, and what the controllers would do after
# merge. Findings appear as annotations on the PR's files and in the job summary.
name: runink audit
on:
  pull_request:
permissions:
  contents: read
jobs:
  audit:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0          # the base commit must be there to compare with
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install runink=={version}
      - name: runi audit
        run: >-
          runi audit {path} --base "origin/${{{{ github.base_ref }}}}"
          --junit runink-audit.xml
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: runink-audit
          path: runink-audit.xml
"""

_SETTINGS = """\
apiVersion: runink.dev/v1
kind: Repository
metadata:
  name: {name}
spec:
  defaultHerd: {herd}
  branch: main                  # pushes to it are audited by `runi hook pre-receive`
  contracts:
    perspective: consumer       # breaking = what breaks readers (or: producer)
  lineage:
    branch: runink/lineage
    signing: none
"""

_HERD = """\
apiVersion: runink.dev/v1
kind: Herd
metadata:
  name: {herd}
spec:
  quota: {{cpu: "1", memory: 1Gi, pids: 256, slices: 8}}
  roles:
    viewer: ["read:pipelines", "read:runs"]
  members: {{}}
  network: none
  isolation: best-effort
"""

_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: event
name: event
version: 1.0.0
status: active
schema:
  - name: events
    physicalName: events
    logicalType: object
    properties:
      - name: event_id
        logicalType: string
        required: true
        primaryKey: true
        primaryKeyPosition: 1
      - name: kind
        logicalType: string
        required: true
        enum:
          - {value: click}
          - {value: view}
"""

_FEATURE = """\
Feature: Events
  Raw events, checked against their contract before anyone reads them.

  Scenario: Ingest
    @source("jsonl://data/events.jsonl")
    @step("ValidateContract", contract="event")
    @sink("jsonl://out/events.jsonl")
    @golden("golden/events/ingest")

    Given the contract "event"
    When events arrive
    Then valid events land in out/events.jsonl
"""

_INPUT = """\
{"event_id": "e1", "kind": "click"}
{"event_id": "e2", "kind": "scroll"}
"""
_EXPECTED = '{"event_id": "e1", "kind": "click"}\n'
_EXPECTED_DLQ = '{"step": "ValidateContract", "record": {"event_id": "e2", "kind": "scroll"}}\n'


def scaffold(name: str, herd: str) -> dict[str, str]:
    """Path -> content of a minimal valid pipeline repository."""
    return {
        "runink.yaml": _SETTINGS.format(name=name, herd=herd),
        f"herds/{herd}.yaml": _HERD.format(herd=herd),
        "contracts/event.yaml": _CONTRACT,
        "features/events.dsl": _FEATURE,
        "golden/events/ingest/input.jsonl": _INPUT,
        "golden/events/ingest/expected.jsonl": _EXPECTED,
        "golden/events/ingest/expected_dlq.jsonl": _EXPECTED_DLQ,
        "data/events.jsonl": _INPUT,
    }


def workflow(repo_path: str) -> str:
    """The GitHub Actions workflow auditing the pipeline repository at ``repo_path``."""
    from runink import __version__

    return _WORKFLOW.format(path=repo_path or ".", version=__version__)


@click.command("init")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", help="Repository name (default: the directory's name).")
@click.option("--herd", default="default", show_default=True, help="The default herd.")
def init_command(path: Path, name: str | None, herd: str) -> None:
    """Create a pipeline repository (or complete one) and its PR audit workflow.

    Writes runink.yaml, a herd, a contract, a feature with a golden set and
    .github/workflows/runink-audit.yml; files that exist are left as they are.
    Exit status: 0 done, 2 usage error.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", (name or path.resolve().name).lower()).strip("-")
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", herd):
        click.echo(f"runi: herd {herd!r} is not a valid name (lowercase, digits, '-')", err=True)
        raise SystemExit(EXIT_USAGE)
    files = {} if (path / "runink.yaml").exists() else scaffold(slug or "pipelines", herd)
    files[WORKFLOW] = workflow("")
    out = console()
    for rel, content in files.items():
        target = path / rel
        if target.exists():
            out.print(f"exists   {rel}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        out.print(f"created  {rel}")
    console(stderr=True).print(
        f"{path}: ready; check it with `runi lint {path}` and `runi test {path}`"
    )
    raise SystemExit(EXIT_OK)
