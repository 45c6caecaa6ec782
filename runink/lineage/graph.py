"""One committed run as text, Graphviz dot or Mermaid: inputs -> job -> outputs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from runink.lineage.history import RunEntry, dataset_uri

FORMATS: Final = ("text", "dot", "mermaid")
_CONTRACT = re.compile(r"^contract:(?P<id>.+)@(?P<version>[^@]+)$")


@dataclass(frozen=True)
class DatasetNode:
    """A dataset of the run: its URI, schema fields and the contract that checked it."""

    uri: str
    role: str  # input | output
    fields: tuple[str, ...]
    contract: str  # "<id>@<version>", or "" when no contract check names it


def datasets(entry: RunEntry) -> list[DatasetNode]:
    """The run's datasets, as its terminal (else latest) event describes them."""
    last = next(
        (e for e in entry.events if e.get("eventType") == entry.outcome),
        entry.events[-1] if entry.events else {},
    )
    found = []
    for role, key in (("input", "inputs"), ("output", "outputs")):
        for dataset in last.get(key) or ():
            if isinstance(dataset, Mapping):
                found.append(_node(dataset, role))
    return found


def render(entry: RunEntry, fmt: str) -> str:
    """The run in ``fmt`` (one of :data:`FORMATS`)."""
    nodes = datasets(entry)
    if fmt == "dot":
        return _dot(entry, nodes)
    if fmt == "mermaid":
        return _mermaid(entry, nodes)
    return _text(entry, nodes)


def _node(dataset: Mapping[str, Any], role: str) -> DatasetNode:
    facets = dataset.get("facets") or {}
    schema = facets.get("schema") or {}
    fields = tuple(str(f.get("name")) for f in schema.get("fields") or () if isinstance(f, dict))
    assertions = ((dataset.get("inputFacets") or {}).get("dataQualityAssertions") or {}).get(
        "assertions"
    ) or ()
    contracts = [
        f"{m['id']}@{m['version']}"
        for a in assertions
        if isinstance(a, dict) and (m := _CONTRACT.match(str(a.get("assertion", ""))))
    ]
    return DatasetNode(dataset_uri(dataset), role, fields, ", ".join(dict.fromkeys(contracts)))


def _label(node: DatasetNode) -> str:
    parts = [node.uri]
    if node.fields:
        parts.append(f"{len(node.fields)} fields")
    if node.contract:
        parts.append(f"contract {node.contract}")
    return " | ".join(parts)


def _text(entry: RunEntry, nodes: list[DatasetNode]) -> str:
    lines = [
        f"run        {entry.run_id}",
        f"pipeline   {entry.pipeline}",
        f"outcome    {entry.outcome} at {entry.time}",
        f"revision   {entry.revision or '-'}",
        f"commit     {entry.commit} ({entry.path})",
        f"signed by  {entry.signer or '-'}" + ("" if entry.signature == "G" else " (not verified)"),
        "events",
    ]
    lines += [f"  {e.get('eventType', '?'):<9} {e.get('eventTime', '')}" for e in entry.events]
    lines.append("graph")
    for node in nodes:
        arrow = "  in  " if node.role == "input" else "  out "
        lines.append(f"{arrow}{_label(node)}")
        if node.fields:
            lines.append(f"        fields: {', '.join(node.fields)}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot(entry: RunEntry, nodes: list[DatasetNode]) -> str:
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        f'  job [shape=box, label="{_quote(entry.pipeline)}\\n{entry.outcome}"];',
    ]
    for i, node in enumerate(nodes):
        lines.append(f'  d{i} [shape=cylinder, label="{_quote(_label(node))}"];')
        lines.append(f"  d{i} -> job;" if node.role == "input" else f"  job -> d{i};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid(entry: RunEntry, nodes: list[DatasetNode]) -> str:
    def text(value: str) -> str:
        return value.replace('"', "#quot;")

    lines = ["flowchart LR", f'  job["{text(entry.pipeline)} ({entry.outcome})"]']
    for i, node in enumerate(nodes):
        lines.append(f'  d{i}[("{text(_label(node))}")]')
        lines.append(f"  d{i} --> job" if node.role == "input" else f"  job --> d{i}")
    return "\n".join(lines) + "\n"
