"""Compile one Scenario of a parsed Feature into a Plan (or positioned findings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from runink.compiler.graph import build_edges
from runink.compiler.index import RepoIndex
from runink.compiler.plan import (
    Assertion,
    ContractRef,
    Node,
    Plan,
    Resources,
    Slo,
    Trigger,
    slug,
)
from runink.contracts.model import Contract
from runink.dsl import DslError, compile_expression, parse_duration
from runink.dsl.nodes import Feature, Scenario, Tag, to_plain
from runink.findings import Finding, Position, did_you_mean
from runink.quantities import parse_cpu, parse_memory
from runink.steps.catalog import BUILTIN_STEPS, validate_params
from runink.uris import SINK_SCHEMES, SOURCE_SCHEMES, UriError, parse_uri

DEFAULT_CPU_MILLIS = 250
DEFAULT_MEMORY_BYTES = 256 * 2**20
DEFAULT_DLQ = "jsonl://dlq.jsonl"
RESERVED_STEP_KEYS = ("id", "after", "depends_on")

Fields = dict[str, str] | None  # field path -> logical type; None: not known here


@dataclass
class _Context:
    feature: Feature
    scenario: Scenario
    feature_name: str
    index: RepoIndex
    findings: list[Finding] = field(default_factory=list)
    lookups: set[str] = field(default_factory=set)

    def error(self, code: str, message: str, position: Position, hint: str = "") -> None:
        self.findings.append(Finding(code, message, position, hint=hint))

    def tags(self, name: str) -> tuple[Tag, ...]:
        """Scenario tags called ``name``; feature-level ones when the scenario has none."""
        own = self.scenario.tags_named(name)
        return own or self.feature.tags_named(name)

    def tag(self, name: str) -> Tag | None:
        found = self.tags(name)
        return found[0] if found else None

    def contract(self, tag: Tag, key: str) -> Contract | None:
        """The contract named by ``tag``'s ``key=`` argument, recorded as a lookup."""
        name = tag.kwargs.get(key)
        if name is None:
            return None
        self.lookups.add(f"contract:{name}")
        contract = self.index.contracts.get(str(name))
        if contract is None and f"contract:{name}" not in self.index.broken:
            self.error(
                "compile.unknown-contract",
                f"unknown contract {name!r}",
                tag.position_of((key,)),
                did_you_mean(str(name), self.index.contracts)
                or f"contracts: {', '.join(sorted(self.index.contracts)) or 'none'}",
            )
        return contract


def compile_scenario(
    feature: Feature, scenario: Scenario, feature_name: str, index: RepoIndex
) -> tuple[Plan | None, list[Finding], set[str]]:
    """The Plan of ``scenario``, the findings, and the lookups it depended on."""
    ctx = _Context(feature, scenario, feature_name, index)
    ctx.lookups.add("settings:")
    herd_name = _herd(ctx)
    nodes: list[Node] = []
    refs: dict[int, tuple[str, ...]] = {}  # node index -> after/depends_on names
    tag_of: dict[int, Tag] = {}  # node index -> the tag that wrote it
    source_fields: Fields = None

    sources = ctx.tags("source")
    if not sources:
        ctx.error(
            "compile.no-source",
            f"scenario {scenario.name!r} has no @source",
            scenario.position,
            '@source("jsonl://data/input.jsonl", contract="...")',
        )
    for extra in sources[1:]:
        ctx.error(
            "compile.many-sources",
            "a scenario reads one @source",
            extra.position,
            "merge inputs upstream, or write one scenario per source",
        )
    if sources:
        node, source_fields = _source(ctx, sources[0])
        nodes.append(node)

    fields: Fields = source_fields
    contract_in: Contract | None = _source_contract(ctx, sources)
    for tag in scenario.tags_named("step"):
        node, fields, contract_in = _step(ctx, tag, fields, contract_in, nodes)
        refs[len(nodes)] = _names(tag)
        tag_of[len(nodes)] = tag
        nodes.append(node)
    final_fields = fields

    sink_tags = scenario.tags_named("sink")
    if not sink_tags:
        ctx.error(
            "compile.no-sink",
            f"scenario {scenario.name!r} has no @sink",
            scenario.position,
            '@sink("jsonl://out/result.jsonl")',
        )
    for tag in sink_tags:
        refs[len(nodes)] = _names(tag)
        tag_of[len(nodes)] = tag
        nodes.append(_sink(ctx, tag, final_fields, nodes))

    _dedupe_ids(nodes)
    edges = build_edges(nodes, refs, tag_of, ctx.findings)
    assertions = _assertions(ctx, final_fields)
    trigger = _trigger(ctx)
    resources = _resources(ctx, herd_name)
    dlq = _dlq(ctx)
    golden = _golden(ctx)
    slo = _slo(ctx)
    affinity = {k: str(v) for t in ctx.tags("affinity") for k, v in t.kwargs.items()}

    if ctx.findings or herd_name is None:
        return None, ctx.findings, ctx.lookups
    description = tuple(f"{s.keyword} {s.text}" for s in scenario.steps)
    plan = Plan(
        pipeline=f"{herd_name}/{feature_name}/{slug(scenario.name)}",
        herd=herd_name,
        feature=feature_name,
        scenario=scenario.name,
        title=feature.name,
        description=description,
        nodes=tuple(nodes),
        edges=edges,
        trigger=trigger,
        resources=resources,
        dlq=dlq,
        assertions=assertions,
        golden=golden,
        slo=slo,
        affinity=affinity,
    )
    return plan, ctx.findings, ctx.lookups


def _names(tag: Tag) -> tuple[str, ...]:
    names: list[str] = []
    for key in ("after", "depends_on"):
        value = tag.kwargs.get(key)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, tuple):
            names.extend(str(v) for v in value)
    return tuple(names)


def _herd(ctx: _Context) -> str | None:
    tag = ctx.feature.tags_named("herd")
    name = str(tag[0].args[0]) if tag and tag[0].args else ctx.index.default_herd
    if name is None:
        ctx.error(
            "compile.no-herd",
            f"feature {ctx.feature.name!r} names no herd and runink.yaml has no defaultHerd",
            ctx.feature.position,
            '@herd("finance") before "Feature:"',
        )
        return None
    ctx.lookups.add(f"herd:{name}")
    if name not in ctx.index.herds:
        if f"herd:{name}" in ctx.index.broken:
            return None  # its own file's findings say why
        where = tag[0].position_of((0,)) if tag else ctx.feature.position
        ctx.error(
            "compile.unknown-herd",
            f"unknown herd {name!r}",
            where,
            did_you_mean(name, ctx.index.herds)
            or f"herds: {', '.join(sorted(ctx.index.herds)) or 'none'} (herds/<name>.yaml)",
        )
        return None
    return name


def _source_contract(ctx: _Context, sources: tuple[Tag, ...]) -> Contract | None:
    if not sources or "contract" not in sources[0].kwargs:
        return None
    return ctx.index.contracts.get(str(sources[0].kwargs["contract"]))


def _contract_ref(contract: Contract | None) -> ContractRef | None:
    return None if contract is None else ContractRef(contract.id, contract.version, contract.sha)


def _source(ctx: _Context, tag: Tag) -> tuple[Node, Fields]:
    uri = _uri(ctx, tag, SOURCE_SCHEMES)
    contract = ctx.contract(tag, "contract")
    fields = dict(contract.fields()) if contract else None
    node = Node(
        id="source",
        kind="source",
        name=uri.split("://", 1)[0],
        position=str(tag.position),
        uri=uri,
        contract=_contract_ref(contract),
        fields_out=_field_names(fields),
    )
    return node, fields


def _uri(ctx: _Context, tag: Tag, schemes: tuple[str, ...]) -> str:
    text = str(tag.args[0]) if tag.args else ""
    try:
        return str(parse_uri(text, schemes))
    except UriError as exc:
        ctx.error("compile.uri", str(exc), tag.position_of((0,)), exc.hint)
        return text


def _field_names(fields: Fields) -> tuple[str, ...] | None:
    return None if fields is None else tuple(sorted(fields))


def _step(
    ctx: _Context, tag: Tag, fields: Fields, contract_in: Contract | None, nodes: list[Node]
) -> tuple[Node, Fields, Contract | None]:
    name = str(tag.args[0]) if tag.args else ""
    params = {k: to_plain(v) for k, v in tag.kwargs.items() if k not in RESERVED_STEP_KEYS}
    node_id = str(tag.kwargs.get("id") or slug(name))
    builtin = BUILTIN_STEPS.get(name)
    user = ctx.index.user_steps.get(name)
    ctx.lookups.add(f"step:{name}")
    module = module_sha = None
    batch = False
    contract_out = contract_in
    out: Fields = None
    if builtin is not None:
        ctx.findings.extend(
            validate_params(
                name,
                params,
                locate=lambda path: tag.position_of(path) if path else tag.position,
                locate_key=tag.key_position,
                fields=fields,
            )
        )
        out, contract_out = _builtin_fields(ctx, name, params, tag, fields, contract_in)
    elif user is not None:
        module, batch = user.module, user.batch
        module_sha = ctx.index.module_shas.get(user.module)
    else:
        known = [*BUILTIN_STEPS, *ctx.index.user_steps]
        ctx.error(
            "compile.unknown-step",
            f"unknown step {name!r}",
            tag.position_of((0,)),
            did_you_mean(name, known)
            or "built-in steps: "
            + ", ".join(sorted(BUILTIN_STEPS))
            + "; user steps are @step functions in steps/*.py",
        )
    contract = ctx.contract(tag, "contract") if builtin is not None else None
    node = Node(
        id=node_id,
        kind="step",
        name=name,
        position=str(tag.position),
        params=params,
        contract=_contract_ref(contract),
        module=module,
        module_sha=module_sha,
        batch=batch,
        fields_out=_field_names(out),
    )
    return node, out, contract_out


def _builtin_fields(
    ctx: _Context,
    name: str,
    params: Mapping[str, Any],
    tag: Tag,
    fields: Fields,
    contract_in: Contract | None,
) -> tuple[Fields, Contract | None]:
    """What a built-in step outputs, checking its parameters against its input."""

    def need(names: Any, key: str) -> None:
        if fields is None:
            return
        for i, field_name in enumerate(names if isinstance(names, list) else [names]):
            if isinstance(field_name, str) and field_name not in fields:
                ctx.error(
                    "compile.unknown-field",
                    f"{name} uses field {field_name!r}, which its input does not have",
                    tag.position_of((key, i) if isinstance(names, list) else (key,)),
                    did_you_mean(field_name, fields) or f"fields here: {', '.join(sorted(fields))}",
                )

    if name == "ValidateContract":
        target = ctx.index.contracts.get(str(params.get("contract", "")))
        if target is None:
            return None, None
        target_fields = target.fields()
        if fields is not None:
            missing = [
                p.name
                for obj in target.schemas
                for p in obj.properties
                if p.required and p.name not in fields
            ]
            clashes = [
                f"{f} ({fields[f]} upstream, {t} in {target.id})"
                for f, t in sorted(target_fields.items())
                if f in fields and not _types_fit(fields[f], t)
            ]
            if missing or clashes:
                problems = []
                if missing:
                    problems.append("required field(s) missing upstream: " + ", ".join(missing))
                if clashes:
                    problems.append("type mismatch: " + "; ".join(clashes))
                ctx.error(
                    "compile.contract-mismatch",
                    f"contract {target.id!r} does not fit what reaches this step: "
                    + "; ".join(problems),
                    tag.position_of(("contract",)),
                    "every record would fail; decode or map the records first "
                    "(a user step or Rename/Select)",
                )
        return dict(target_fields), target
    if fields is None:
        return None, contract_in
    if name == "Select":
        need(params.get("fields", []), "fields")
        keep = params.get("fields", [])
        return {k: v for k, v in fields.items() if k in keep}, None
    if name == "Rename":
        mapping = params.get("mapping", {})
        need(list(mapping), "mapping")
        return {mapping.get(k, k): v for k, v in fields.items()}, None
    if name in ("Dedupe",):
        need(params.get("keys", []), "keys")
    if name in ("Normalize", "MaskPII") and "fields" in params:
        need(params["fields"], "fields")
    if name == "MaskPII" and "fields" not in params:
        sensitive = [
            p.name
            for obj in (contract_in.schemas if contract_in else ())
            for p in obj.properties
            if p.sensitive
        ]
        if contract_in is None:
            ctx.error(
                "compile.mask-needs-fields",
                "MaskPII without fields= masks what the input's contract classifies as PII, "
                "but no contract is known here",
                tag.position,
                'name them: @step("MaskPII", fields=["email"])',
            )
        elif not sensitive:
            ctx.error(
                "compile.mask-nothing",
                f"contract {contract_in.id!r} classifies no field as pii, restricted or "
                "confidential, so MaskPII would mask nothing",
                tag.position,
                "classify the fields in the contract, or name them with fields=",
            )
    if name == "Aggregate":
        by = params.get("by", [])
        need(by, "by")
        out = {k: fields[k] for k in by if isinstance(k, str) and k in fields}
        for metric, spec in (params.get("metrics") or {}).items():
            func, _, arg = str(spec).partition("(")
            arg = arg.rstrip(")").strip()
            if arg:
                need(arg, "metrics")
            if func == "count":
                out[metric] = "integer"
            elif func in ("min", "max"):
                out[metric] = fields.get(arg, "number")
            else:
                out[metric] = "number"
        return out, None
    return dict(fields), contract_in


def _types_fit(upstream: str, wanted: str) -> bool:
    if "any" in (upstream, wanted) or upstream == wanted:
        return True
    numeric = {"integer", "number"}
    if upstream in numeric and wanted in numeric:
        return upstream == "integer"  # an integer is a number; not the other way
    # Dates and timestamps travel as strings until validated.
    return upstream == "string" and wanted in ("date", "timestamp", "time")


def _expression(
    ctx: _Context, text: str, tag: Tag, path: tuple[str | int, ...], fields: Fields
) -> None:
    position = tag.position_of(path)
    start = Position(position.file, position.line, position.column + 1)  # inside the quote
    try:
        compile_expression(text, start, fields, boolean=True)
    except DslError as exc:
        ctx.findings.extend(exc.findings)


def _sink(ctx: _Context, tag: Tag, fields: Fields, nodes: list[Node]) -> Node:
    uri = _uri(ctx, tag, SINK_SCHEMES)
    when = tag.kwargs.get("when")
    if isinstance(when, str):
        _expression(ctx, when, tag, ("when",), fields)
    contract = ctx.contract(tag, "contract")
    params = {k: to_plain(v) for k, v in tag.kwargs.items() if k in ("mode", "keys")}
    if uri.startswith("duckdb://"):
        params.setdefault("mode", "append")
        if params["mode"] == "upsert" and "keys" not in params:
            keyed = contract or _last_contract(ctx, nodes)
            keys = [
                p.name
                for o in (keyed.schemas if keyed else ())
                for p in o.properties
                if p.primary_key
            ]
            if not keys:
                ctx.error(
                    "compile.upsert-without-key",
                    "mode='upsert' needs a primary key, and no contract here declares one",
                    tag.position_of(("mode",)),
                    'add keys=["id"], or primaryKey: true in the contract',
                )
    return Node(
        id=f"sink-{slug(uri.split('://', 1)[-1])}",
        kind="sink",
        name=uri.split("://", 1)[0],
        position=str(tag.position),
        params=params,
        uri=uri,
        contract=_contract_ref(contract),
        when=when if isinstance(when, str) else None,
    )


def _last_contract(ctx: _Context, nodes: list[Node]) -> Contract | None:
    for node in reversed(nodes):
        if node.contract is not None:
            return ctx.index.contracts.get(node.contract.id)
    return None


def _dedupe_ids(nodes: list[Node]) -> None:
    seen: dict[str, int] = {}
    for i, node in enumerate(nodes):
        count = seen.get(node.id, 0) + 1
        seen[node.id] = count
        if count > 1:
            nodes[i] = Node(**{**node.__dict__, "id": f"{node.id}-{count}"})


def _assertions(ctx: _Context, fields: Fields) -> tuple[Assertion, ...]:
    found: list[Assertion] = []
    for tag in ctx.scenario.tags_named("assert"):
        text = str(tag.args[0]) if tag.args else ""
        _expression(ctx, text, tag, (0,), fields)
        found.append(Assertion(text, str(tag.position_of((0,)))))
    for line in ctx.scenario.assertions:
        assert line.expression is not None
        where = line.expression_position or line.position
        try:
            compile_expression(line.expression, where, fields, boolean=True)
        except DslError as exc:
            ctx.findings.extend(exc.findings)
        found.append(Assertion(line.expression, str(where)))
    return tuple(found)


def _trigger(ctx: _Context) -> Trigger:
    schedule = ctx.tag("schedule")
    stream = ctx.tag("stream")  # the parser refuses both at once
    if stream:
        return Trigger("stream")
    if schedule:
        cron = str(schedule.kwargs.get("cron", ""))
        if not croniter.is_valid(cron):
            ctx.error(
                "compile.cron",
                f"invalid cron expression {cron!r}",
                schedule.position_of(("cron",)),
                'five fields: minute hour day-of-month month day-of-week, e.g. "*/5 * * * *"',
            )
            return Trigger("schedule", cron)
        start = datetime(2026, 1, 5, tzinfo=UTC)  # a fixed Monday: stable plans
        it = croniter(cron, start)
        first = it.get_next(datetime)
        second = it.get_next(datetime)
        return Trigger("schedule", cron, int((second - first).total_seconds()))
    return Trigger("once")


def _resources(ctx: _Context, herd_name: str | None) -> Resources:
    tag = ctx.tag("requires")
    cpu, memory = DEFAULT_CPU_MILLIS, DEFAULT_MEMORY_BYTES
    if tag is not None:
        # The parser checked both quantities; these parse.
        if "cpu" in tag.kwargs:
            cpu = parse_cpu(str(tag.kwargs["cpu"]))
        if "memory" in tag.kwargs:
            memory = parse_memory(str(tag.kwargs["memory"]))
    herd = ctx.index.herds.get(herd_name or "")
    if herd is not None:
        where = tag.position if tag is not None else ctx.scenario.position
        quota = herd.quota
        if quota.cpu_millis is not None and cpu > quota.cpu_millis:
            ctx.error(
                "compile.over-quota",
                f"each slice asks for {cpu}m CPU, more than herd {herd.name!r} has in all "
                f"({quota.cpu_millis}m)",
                where,
                "lower @requires(cpu=...) or raise the herd's quota.cpu",
            )
        if quota.memory_bytes is not None and memory > quota.memory_bytes:
            ctx.error(
                "compile.over-quota",
                f"each slice asks for {memory} bytes of memory, more than herd {herd.name!r} "
                f"has in all ({quota.memory_bytes})",
                where,
                "lower @requires(memory=...) or raise the herd's quota.memory",
            )
    return Resources(cpu, memory)


def _dlq(ctx: _Context) -> str:
    tag = ctx.tag("dlq")
    return DEFAULT_DLQ if tag is None else _uri(ctx, tag, ("jsonl",))


def _golden(ctx: _Context) -> str | None:
    tag = ctx.tag("golden")
    if tag is None:
        return None
    path = str(tag.args[0]).strip("/") if tag.args else ""
    ctx.lookups.add(f"golden:{path}")
    if path not in ctx.index.golden:
        ctx.error(
            "compile.unknown-golden",
            f"golden set {path!r} does not exist",
            tag.position_of((0,)),
            did_you_mean(path, ctx.index.golden)
            or "a golden set is a directory golden/<feature>/<scenario>/ with input.jsonl "
            "and expected.jsonl",
        )
    return path


def _slo(ctx: _Context) -> Slo:
    tag = ctx.tag("slo")
    if tag is None:
        return Slo()
    ratio = tag.kwargs.get("dlq_ratio")
    freshness = tag.kwargs.get("freshness")
    return Slo(
        dlq_ratio=float(ratio) if isinstance(ratio, int | float) else None,
        freshness_seconds=int(parse_duration(freshness)) if isinstance(freshness, str) else None,
    )
