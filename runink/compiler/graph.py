"""A Plan's DAG: edges from written order or ``after=``, cycles, DOT and Mermaid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from runink.compiler.plan import Edge, Node, Plan, slug
from runink.dsl.nodes import Tag
from runink.findings import Finding, did_you_mean


def build_edges(
    nodes: list[Node],
    refs: Mapping[int, tuple[str, ...]],
    tags: Mapping[int, Tag],
    findings: list[Finding],
) -> tuple[Edge, ...]:
    """Edges of the pipeline; problems (unknown or ambiguous names, cycles) as findings.

    A step reads from the step written before it (the source, for the first) unless
    it names its inputs with ``after=``/``depends_on=``; a sink reads the last step
    unless it names its inputs too. Names are node ids or step names.
    """
    by_id = {n.id: i for i, n in enumerate(nodes)}
    by_name: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        if node.kind == "step":
            by_name.setdefault(node.name, []).append(i)
    processing = [i for i, n in enumerate(nodes) if n.kind in ("source", "step")]
    edges: list[tuple[int, int]] = []
    for i, node in enumerate(nodes):
        if node.kind == "source":
            continue
        tag = tags[i]
        names = refs.get(i, ())
        if not names:
            earlier = [j for j in processing if j < i]
            if node.kind == "sink":
                earlier = processing
            if earlier:
                edges.append((earlier[-1], i))
            continue
        for name in names:
            target = _resolve(name, by_id, by_name, tag, findings, node)
            if target is not None:
                edges.append((target, i))
    _check_cycles(nodes, edges, tags, findings)
    _check_outputs(nodes, edges, tags, findings)
    return tuple(Edge(nodes[a].id, nodes[b].id) for a, b in sorted(set(edges)))


def _resolve(
    name: str,
    by_id: Mapping[str, int],
    by_name: Mapping[str, list[int]],
    tag: Tag,
    findings: list[Finding],
    node: Node,
) -> int | None:
    key = "after" if "after" in tag.kwargs else "depends_on"
    where = tag.position_of((key,))
    if name in by_id:
        return by_id[name]
    matches = by_name.get(name, [])
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        findings.append(
            Finding(
                "compile.ambiguous-step",
                f"{node.name} depends on {name!r}, and {len(matches)} steps have that name",
                where,
                hint=f'give the step an id (@step("{name}", id="...")) and name that',
            )
        )
        return None
    findings.append(
        Finding(
            "compile.unknown-dependency",
            f"{node.name} depends on {name!r}, which is no step of this scenario",
            where,
            hint=did_you_mean(name, [*by_id, *by_name]) or "name a step written in this scenario",
        )
    )
    return None


def _check_cycles(
    nodes: list[Node],
    edges: list[tuple[int, int]],
    tags: Mapping[int, Tag],
    findings: list[Finding],
) -> None:
    graph: dict[int, list[int]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    state: dict[int, int] = {}  # 1: on the path, 2: done
    path: list[int] = []
    reported: set[frozenset[int]] = set()

    def visit(i: int) -> None:
        state[i] = 1
        path.append(i)
        for j in graph.get(i, []):
            if state.get(j) == 1:
                cycle = path[path.index(j) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    names = " -> ".join(nodes[k].id for k in [*cycle, j])
                    first = min(cycle)
                    findings.append(
                        Finding(
                            "compile.cycle",
                            f"steps depend on each other in a cycle: {names}",
                            tags[first].position if first in tags else tags[j].position,
                            hint="remove one after=/depends_on= so the steps form a chain",
                        )
                    )
            elif j not in state:
                visit(j)
        path.pop()
        state[i] = 2

    for i in range(len(nodes)):
        if i not in state:
            visit(i)


def _check_outputs(
    nodes: list[Node],
    edges: list[tuple[int, int]],
    tags: Mapping[int, Tag],
    findings: list[Finding],
) -> None:
    used = {a for a, _ in edges}
    for i, node in enumerate(nodes):
        if node.kind == "step" and i not in used and i in tags:
            findings.append(
                Finding(
                    "compile.dead-end",
                    f"the output of step {node.id!r} goes nowhere",
                    tags[i].position,
                    hint="let a later step or a @sink read it (after=...)",
                )
            )


def _label(node: Node) -> str:
    if node.kind == "step":
        return node.name if node.id == slug(node.name) else f"{node.name} ({node.id})"
    return node.uri or node.name


def to_dot(plans: Sequence[Plan]) -> str:
    """Graphviz DOT: one cluster per plan; source, steps, sinks; DLQ edges dashed red."""
    shapes = {"source": "cylinder", "step": "box", "sink": "cylinder"}
    lines = ["digraph runink {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for p, plan in enumerate(plans):
        lines.append(f"  subgraph cluster_{p} {{")
        lines.append(f"    label={_dot_str(plan.pipeline)};")
        for node in plan.nodes:
            lines.append(
                f"    p{p}_{_ident(node.id)} [label={_dot_str(_label(node))}, "
                f"shape={shapes[node.kind]}];"
            )
        lines.append(
            f"    p{p}_dlq [label={_dot_str('DLQ ' + plan.dlq)}, shape=cylinder, color=red];"
        )
        for edge in plan.edges:
            target = plan.node(edge.target)
            attrs = f" [label={_dot_str('when ' + target.when)}]" if target.when else ""
            lines.append(f"    p{p}_{_ident(edge.source)} -> p{p}_{_ident(edge.target)}{attrs};")
        for node in plan.nodes:
            if node.kind == "step":
                lines.append(f"    p{p}_{_ident(node.id)} -> p{p}_dlq [style=dashed, color=red];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(plans: Sequence[Plan]) -> str:
    """Mermaid flowchart: one subgraph per plan."""
    lines = ["flowchart LR"]
    for p, plan in enumerate(plans):
        lines.append(f'  subgraph p{p}["{_mermaid(plan.pipeline)}"]')
        index = {n.id: i for i, n in enumerate(plan.nodes)}
        for i, node in enumerate(plan.nodes):
            text = _mermaid(_label(node))
            shape = f'[("{text}")]' if node.kind != "step" else f'["{text}"]'
            lines.append(f"    p{p}n{i}{shape}")
        for edge in plan.edges:
            target = plan.node(edge.target)
            label = f'|"when {_mermaid(target.when)}"|' if target.when else ""
            lines.append(f"    p{p}n{index[edge.source]} -->{label} p{p}n{index[edge.target]}")
        lines.append(f'    p{p}dlq[("DLQ {_mermaid(plan.dlq)}")]')
        for node in plan.nodes:
            if node.kind == "step":
                lines.append(f"    p{p}n{index[node.id]} -.-> p{p}dlq")
        lines.append("  end")
    return "\n".join(lines) + "\n"


def _mermaid(text: str) -> str:
    return text.replace('"', "#quot;")


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
