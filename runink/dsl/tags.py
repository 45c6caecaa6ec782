"""What each tag means and which arguments it takes; checks the shapes a parser can know.

Step parameters (``@step("Name", key=...)``) are checked later, against the step's
JSON Schema, by the compiler (see :mod:`runink.steps.catalog`); here only the
arguments every tag shares are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runink.dsl.errors import finding
from runink.dsl.nodes import ArgPath, Tag, Value
from runink.findings import Finding, Position, did_you_mean
from runink.quantities import QuantityError, parse_cpu, parse_memory

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
_DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w))+$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?#LW-]+$")
_CRON_MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"})
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$")

SINK_MODES = ("append", "replace", "upsert")


def parse_duration(text: str) -> float:
    """A duration such as ``"90s"``, ``"5m"`` or ``"1h30m"`` in seconds.

    Units: ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``. Raises :class:`ValueError`
    on anything else.
    """
    if not _DURATION.match(text):
        raise ValueError(f'invalid duration {text!r}: expected e.g. "30s", "5m", "1h30m"')
    return sum(float(n) * _DURATION_SECONDS[u] for n, u in _DURATION_PART.findall(text))


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a tag: its name, the kind of value, and whether it is needed.

    Kinds: ``string``, ``uri``, ``duration``, ``cron``, ``ratio``, ``expression``,
    ``cpu``, ``memory``, ``names`` (a string or a list of strings), ``choice``
    (one of ``choices``), ``label`` (a Kubernetes-style label value).
    """

    name: str
    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagSpec:
    """A recognised tag: where it may appear, its arguments, and an example for hints."""

    name: str
    summary: str
    example: str
    positional: tuple[ArgSpec, ...] = ()
    keywords: tuple[ArgSpec, ...] = ()
    extra_keywords: str | None = None  # kind of any further keyword, or None: refused
    needs_keyword: bool = False  # at least one keyword argument is required
    feature: bool = False  # may be written before "Feature:" (a default for every scenario)
    scenario: bool = True  # may be written in a scenario
    repeatable: bool = False  # may appear more than once in one scenario


TAGS: Mapping[str, TagSpec] = {
    s.name: s
    for s in (
        TagSpec(
            "herd",
            "the herd (tenant) whose quota, roles and secrets the feature's pipelines use",
            '@herd("finance")',
            positional=(ArgSpec("name", "string"),),
            feature=True,
            scenario=False,
        ),
        TagSpec(
            "source",
            "where records come from, and the contract they are read with",
            '@source("jsonl://data/trades.jsonl", contract="trade_raw")',
            positional=(ArgSpec("uri", "uri"),),
            keywords=(ArgSpec("contract", "string", required=False),),
        ),
        TagSpec(
            "step",
            "one processing step (built-in or user step) with its parameters",
            '@step("MaskPII", fields=["trader_email"])',
            positional=(ArgSpec("name", "string"),),
            keywords=(
                ArgSpec("id", "string", required=False),
                ArgSpec("after", "names", required=False),
                ArgSpec("depends_on", "names", required=False),
            ),
            extra_keywords="any",
            repeatable=True,
        ),
        TagSpec(
            "sink",
            "where records go; `when=` keeps only the records for which it holds",
            '@sink("duckdb://warehouse.duckdb#silver.trades", mode="upsert")',
            positional=(ArgSpec("uri", "uri"),),
            keywords=(
                ArgSpec("mode", "choice", required=False, choices=SINK_MODES),
                ArgSpec("when", "expression", required=False),
                ArgSpec("contract", "string", required=False),
                ArgSpec("keys", "names", required=False),
                ArgSpec("after", "names", required=False),
                ArgSpec("depends_on", "names", required=False),
            ),
            repeatable=True,
        ),
        TagSpec(
            "dlq",
            "where rejected records go (default: dlq.jsonl of the run)",
            '@dlq("jsonl://dlq/trades.jsonl")',
            positional=(ArgSpec("uri", "uri"),),
        ),
        TagSpec(
            "schedule",
            "run on a cron schedule (UTC)",
            '@schedule(cron="*/5 * * * *")',
            keywords=(ArgSpec("cron", "cron"),),
        ),
        TagSpec("stream", "run continuously, as records arrive", "@stream"),
        TagSpec(
            "window",
            "the window a streaming pipeline aggregates over (tumbling, or sliding by `slide=`)",
            '@window("5m")',
            positional=(ArgSpec("size", "duration"),),
            keywords=(ArgSpec("slide", "duration", required=False),),
        ),
        TagSpec(
            "requires",
            "resources each slice of the pipeline asks for",
            '@requires(cpu="500m", memory="256Mi")',
            keywords=(
                ArgSpec("cpu", "cpu", required=False),
                ArgSpec("memory", "memory", required=False),
            ),
            needs_keyword=True,
            feature=True,
        ),
        TagSpec(
            "affinity",
            "node labels the pipeline must be placed on",
            '@affinity(zone="eu-west-1")',
            extra_keywords="label",
            needs_keyword=True,
            feature=True,
        ),
        TagSpec(
            "golden",
            "directory of the scenario's golden data (input.jsonl, expected.jsonl)",
            '@golden("golden/trades/validate")',
            positional=(ArgSpec("path", "string"),),
        ),
        TagSpec(
            "assert",
            "a per-record assertion; failing records go to the DLQ with the reason",
            '@assert("record.notional > 0", name="positive notional")',
            positional=(ArgSpec("expression", "expression"),),
            keywords=(ArgSpec("name", "string", required=False),),
            repeatable=True,
        ),
        TagSpec(
            "emits",
            "a dataset the pipeline produces, named for lineage, with its contract",
            '@emits("silver.trades", contract="trade")',
            positional=(ArgSpec("dataset", "string"),),
            keywords=(ArgSpec("contract", "string", required=False),),
            repeatable=True,
        ),
        TagSpec(
            "module",
            "a user step module (steps/<module>.py) the pipeline loads",
            '@module("enrich")',
            positional=(ArgSpec("name", "string"),),
            feature=True,
            repeatable=True,
        ),
        TagSpec(
            "slo",
            "objectives exported as metrics: DLQ ratio ceiling and freshness",
            '@slo(dlq_ratio=0.01, freshness="2h")',
            keywords=(
                ArgSpec("dlq_ratio", "ratio", required=False),
                ArgSpec("freshness", "duration", required=False),
            ),
            needs_keyword=True,
            feature=True,
        ),
    )
}

#: Expression checker the parser plugs in (kept here as a hook to avoid an import cycle).
ExpressionCheck = Callable[[str, Position], list[Finding]]


def _describe(value: Value) -> str:
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, tuple):
        return "a list"
    return "a map"


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def check_tag(
    tag: Tag, *, where: str, check_expression: ExpressionCheck | None = None
) -> list[Finding]:
    """Every problem with ``tag``'s name, placement and arguments.

    ``where`` is ``"feature"`` or ``"scenario"``.
    """
    spec = TAGS.get(tag.name)
    if spec is None:
        hint = did_you_mean(tag.name, TAGS) or "known tags: " + ", ".join(f"@{n}" for n in TAGS)
        if hint.startswith("did you mean"):
            hint = hint.replace("'", "'@", 1)
        return [finding("dsl.unknown-tag", f"unknown tag '@{tag.name}'", tag.position, hint)]
    findings: list[Finding] = []
    if where == "feature" and not spec.feature:
        findings.append(
            finding(
                "dsl.tag-placement",
                f"'@{tag.name}' belongs to a scenario, not to the feature",
                tag.position,
                "write it under the 'Scenario:' line",
            )
        )
    if where == "scenario" and not spec.scenario:
        findings.append(
            finding(
                "dsl.tag-placement",
                f"'@{tag.name}' belongs before 'Feature:', not in a scenario",
                tag.position,
                f"write {spec.example} above the 'Feature:' line",
            )
        )
    findings.extend(_check_arguments(tag, spec, check_expression))
    return findings


def _check_arguments(
    tag: Tag, spec: TagSpec, check_expression: ExpressionCheck | None
) -> list[Finding]:
    out: list[Finding] = []
    hint = f"e.g. {spec.example}"
    if not spec.positional and not spec.keywords and spec.extra_keywords is None:
        if tag.args or tag.kwargs or tag.has_parens:
            out.append(
                finding(
                    "dsl.tag-argument",
                    f"'@{tag.name}' takes no arguments",
                    tag.position_of((0,)) if tag.args else tag.position,
                    f"write {spec.example}",
                )
            )
        return out

    if len(tag.args) > len(spec.positional):
        extra = len(spec.positional)
        takes = (
            "no positional arguments"
            if not spec.positional
            else f"{len(spec.positional)} positional argument"
            + ("s" if len(spec.positional) > 1 else "")
        )
        names = ", ".join(f"{a.name}=" for a in spec.keywords)
        out.append(
            finding(
                "dsl.tag-argument",
                f"'@{tag.name}' takes {takes}, found {len(tag.args)}",
                tag.position_of((extra,)),
                hint + (f" (keyword arguments: {names})" if names else ""),
            )
        )

    by_name = {a.name: a for a in spec.keywords}
    positional_names = {a.name: i for i, a in enumerate(spec.positional)}
    for key in tag.kwargs:
        if key in positional_names:
            if positional_names[key] < len(tag.args):
                out.append(
                    finding(
                        "dsl.tag-argument",
                        f"'@{tag.name}' is given {key!r} twice (by position and as {key}=)",
                        tag.key_position(key),
                        hint,
                    )
                )
            continue
        if key in by_name:
            continue
        if spec.extra_keywords is None:
            known = [*by_name, *positional_names]
            out.append(
                finding(
                    "dsl.tag-argument",
                    f"'@{tag.name}' has no argument {key!r}",
                    tag.key_position(key),
                    did_you_mean(key, known) or (f"it takes {', '.join(known)}" if known else hint),
                )
            )

    for index, arg in enumerate(spec.positional):
        if index < len(tag.args):
            out.extend(_check_value(tag, arg, tag.args[index], (index,), check_expression))
        elif arg.name in tag.kwargs:
            out.extend(_check_value(tag, arg, tag.kwargs[arg.name], (arg.name,), check_expression))
        elif arg.required:
            out.append(
                finding(
                    "dsl.tag-argument",
                    f"'@{tag.name}' needs its {arg.name} ({_ordinal(index + 1)} argument)",
                    tag.position,
                    hint,
                )
            )
    for arg in spec.keywords:
        if arg.name in tag.kwargs:
            out.extend(_check_value(tag, arg, tag.kwargs[arg.name], (arg.name,), check_expression))
        elif arg.required:
            out.append(
                finding(
                    "dsl.tag-argument",
                    f"'@{tag.name}' needs {arg.name}=",
                    tag.position,
                    hint,
                )
            )
    if spec.extra_keywords is not None and spec.extra_keywords != "any":
        for key, value in tag.kwargs.items():
            if key not in by_name and key not in positional_names:
                label = ArgSpec(key, spec.extra_keywords)
                out.extend(_check_value(tag, label, value, (key,), check_expression))
    if spec.needs_keyword and not tag.kwargs:
        out.append(
            finding(
                "dsl.tag-argument",
                f"'@{tag.name}' needs at least one keyword argument",
                tag.position,
                hint,
            )
        )
    return out


def _check_value(
    tag: Tag,
    arg: ArgSpec,
    value: Value,
    path: ArgPath,
    check_expression: ExpressionCheck | None,
) -> list[Finding]:
    position = tag.position_of(path)
    label = f"{arg.name}=" if isinstance(path[0], str) else arg.name

    def bad(expected: str, advice: str = "") -> list[Finding]:
        spec = TAGS[tag.name]
        return [
            finding(
                "dsl.tag-argument",
                f"'@{tag.name}' {label} must be {expected}, found {_describe(value)}",
                position,
                advice or f"e.g. {spec.example}",
            )
        ]

    kind = arg.kind
    if kind == "ratio":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return bad("a number between 0 and 1", f"write {arg.name}=0.01")
        if not 0 <= value <= 1:
            return bad("a number between 0 and 1", f"write {arg.name}=0.01 for 1%")
        return []
    if kind == "names":
        if isinstance(value, str) and value:
            return []
        if isinstance(value, tuple) and value and all(isinstance(v, str) and v for v in value):
            return []
        return bad("a step name or a list of step names", f'write {arg.name}=["StepName"]')
    if not isinstance(value, str):
        expected = {
            "uri": 'a URI string, e.g. "jsonl://data/in.jsonl"',
            "duration": 'a duration string, e.g. "5m"',
            "cron": 'a cron string, e.g. "*/5 * * * *"',
            "expression": 'an expression string, e.g. "record.amount > 0"',
            "cpu": 'a cpu quantity string, e.g. "500m"',
            "memory": 'a memory quantity string, e.g. "256Mi"',
            "choice": "one of " + ", ".join(f'"{c}"' for c in arg.choices),
        }.get(kind, "a string")
        advice = ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            advice = f'quote it: {arg.name}="{value}"' if kind != "string" else ""
        return bad(expected, advice)
    if kind in ("string", "label") and not value.strip():
        return bad("a non-empty string")
    if kind == "label" and not _LABEL.match(value):
        return bad("a label value (letters, digits, '-', '_', '.', '/')")
    if kind == "uri" and not _URI.match(value):
        return bad('a URI with a scheme, e.g. "jsonl://data/in.jsonl"')
    if kind == "duration" and not _DURATION.match(value):
        return bad('a duration such as "30s", "5m", "2h" or "1h30m"')
    if kind == "cron" and not _valid_cron(value):
        return bad(
            "a cron expression with 5 fields (minute hour day month weekday)",
            'e.g. cron="*/5 * * * *" or cron="@daily"',
        )
    if kind == "choice" and value not in arg.choices:
        choices = ", ".join(f'"{c}"' for c in arg.choices)
        return bad(f"one of {choices}", did_you_mean(value, arg.choices))
    if kind == "cpu":
        try:
            parse_cpu(value)
        except QuantityError as err:
            return bad("a cpu quantity", str(err))
    if kind == "memory":
        try:
            parse_memory(value)
        except QuantityError as err:
            return bad("a memory quantity", str(err))
    if kind == "expression" and check_expression is not None:
        # The expression starts after the opening quote.
        start = Position(position.file, position.line, position.column + 1)
        return check_expression(value, start)
    return []


def _valid_cron(text: str) -> bool:
    if text.strip() in _CRON_MACROS:
        return True
    fields = text.split()
    return len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields)
