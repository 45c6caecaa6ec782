"""The compiler: Plans from the example repository, and every way a feature can be wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runink.compiler import Compiler, plan_from_dict, to_dot, to_mermaid
from runink.findings import Finding
from runink.repo import load_repo
from tests.conftest import commit_all

TRADES_HEAD = """@herd("finance")
Feature: Probe

  Scenario: Probe
"""


def compile_repo(repo: Path) -> tuple[list[Finding], dict[str, object]]:
    result = Compiler().compile(load_repo(repo))
    return list(result.findings), {p.pipeline: p for p in result.plans}


def scenario(repo: Path, tags: str, name: str = "probe") -> list[Finding]:
    body = "".join(f"    {line.strip()}\n" for line in tags.strip().splitlines())
    (repo / f"features/{name}.dsl").write_text(TRADES_HEAD + body)
    findings, _ = compile_repo(repo)
    return [f for f in findings if f.file == f"features/{name}.dsl"]


def test_every_example_scenario_compiles(example_repo: Path) -> None:
    findings, plans = compile_repo(example_repo)
    assert [str(f) for f in findings] == []
    assert sorted(plans) == [
        "ecommerce/customers/maintain-customers",
        "ecommerce/orders/clean-orders",
        "finance/trades/daily-exposure",
        "finance/trades/validate-trades",
    ]


def test_plan_holds_what_an_agent_needs(example_repo: Path) -> None:
    _, plans = compile_repo(example_repo)
    plan = plans["finance/trades/validate-trades"]
    assert [n.id for n in plan.nodes] == [
        "source",
        "decode-trade",
        "validate-contract",
        "mask-pii",
        "sink-warehouse-duckdb-silver-trades",
        "sink-out-large-trades-jsonl",
    ]
    decode = plan.node("decode-trade")
    assert decode.module == "steps/trades.py" and decode.module_sha
    validate = plan.node("validate-contract")
    assert validate.contract is not None and validate.contract.version == "2.1.0"
    assert plan.downstream("mask-pii") == (
        "sink-warehouse-duckdb-silver-trades",
        "sink-out-large-trades-jsonl",
    )
    assert plan.node("sink-out-large-trades-jsonl").when == "record.notional > 1000000"
    assert plan.trigger.kind == "schedule" and plan.trigger.interval_seconds == 300
    assert (plan.resources.cpu_millis, plan.resources.memory_bytes) == (500, 256 * 2**20)
    assert plan.slo.dlq_ratio == 0.01 and plan.slo.freshness_seconds == 7200
    assert plan.golden == "golden/trades/validate"
    assert [a.expression for a in plan.assertions] == ["record.notional > 0"]
    assert plan.description[0] == 'Given the contract "trade"'
    assert plan.inputs["features/trades.dsl"] and plan.inputs["contracts/trade.yaml"]


def test_plans_are_stable_bytes_and_hash_ignores_the_revision(example_repo: Path) -> None:
    first = commit_all(example_repo, "one")
    (example_repo / "README.md").write_text("unrelated change")
    second = commit_all(example_repo, "two")
    a = Compiler().compile(load_repo(example_repo, rev=first)).plans
    b = Compiler().compile(load_repo(example_repo, rev=second)).plans
    c = Compiler().compile(load_repo(example_repo)).plans
    assert [p.hash for p in a] == [p.hash for p in b] == [p.hash for p in c]
    assert a[0].revision == first and b[0].revision == second and c[0].revision is None
    assert [p.to_json() for p in Compiler().compile(load_repo(example_repo, rev=first)).plans] == [
        p.to_json() for p in a
    ]
    assert plan_from_dict(a[0].to_dict()) == a[0]


def test_changing_user_code_changes_the_hash(example_repo: Path) -> None:
    _, before = compile_repo(example_repo)
    module = example_repo / "steps/trades.py"
    module.write_text(module.read_text() + "\n# tweak\n")
    _, after = compile_repo(example_repo)
    assert (
        before["finance/trades/validate-trades"].hash
        != after["finance/trades/validate-trades"].hash
    )
    assert (
        before["ecommerce/orders/clean-orders"].hash == after["ecommerce/orders/clean-orders"].hash
    )


@pytest.mark.parametrize(
    ("tags", "code", "line", "column", "words"),
    [
        (
            '@source("jsonl://in.jsonl")\n@step("DecodTrade")\n@sink("jsonl://out.jsonl")',
            "compile.unknown-step",
            6,
            11,
            "did you mean 'DecodeTrade'?",
        ),
        (
            '@source("jsonl://in.jsonl", contract="trades")\n@sink("jsonl://out.jsonl")',
            "compile.unknown-contract",
            5,
            42,
            "did you mean 'trade'?",
        ),
        (
            '@source("jsnl://in.jsonl")\n@sink("jsonl://out.jsonl")',
            "compile.uri",
            5,
            13,
            "unknown scheme 'jsnl'",
        ),
        (
            '@source("jsonl://../../etc/passwd")\n@sink("jsonl://out.jsonl")',
            "compile.uri",
            5,
            13,
            "leaves the pipeline's data directory",
        ),
        (
            '@source("jsonl://in.jsonl", contract="trade_raw")\n'
            '@step("ValidateContract", contract="trade")\n@sink("jsonl://out.jsonl")',
            "compile.contract-mismatch",
            6,
            40,
            "required field(s) missing upstream: symbol",
        ),
        (
            '@source("jsonl://in.jsonl", contract="trade")\n'
            '@sink("jsonl://out.jsonl", when="record.notionl > 5")',
            "expr.unknown-field",
            6,
            38,
            "notionl",
        ),
        (
            '@source("jsonl://in.jsonl")\n@sink("jsonl://out.jsonl")\n@requires(cpu="3")',
            "compile.over-quota",
            7,
            5,
            "more than herd 'finance' has in all (2000m)",
        ),
        (
            '@source("jsonl://in.jsonl")\n@sink("jsonl://out.jsonl")\n@golden("golden/trades/validat")',
            "compile.unknown-golden",
            7,
            13,
            "did you mean 'golden/trades/validate'?",
        ),
        (
            '@source("jsonl://in.jsonl")\n@step("Filter", when="true", after="Filter")\n'
            '@sink("jsonl://out.jsonl")',
            "compile.cycle",
            6,
            5,
            "filter -> filter",
        ),
        (
            '@source("jsonl://in.jsonl")\n'
            '@step("Filter", id="a", when="true", after="c")\n'
            '@step("Filter", id="b", when="true", after="a")\n'
            '@step("Filter", id="c", when="true", after="b")\n'
            '@sink("jsonl://out.jsonl")',
            "compile.cycle",
            6,
            5,
            "a -> b -> c -> a",
        ),
        (
            '@source("jsonl://in.jsonl", contract="trade")\n'
            '@step("MaskPII", fields=["trader_mail"])\n@sink("jsonl://out.jsonl")',
            "compile.unknown-field",
            6,
            30,
            "did you mean 'trader_email'?",
        ),
        (
            '@source("jsonl://in.jsonl")\n@sink("duckdb://w.duckdb#t", mode="upsert")',
            "compile.upsert-without-key",
            6,
            39,
            "primary key",
        ),
        (
            '@source("jsonl://in.jsonl")\n@sink("jsonl://o.jsonl")\n'
            '@stream\n@schedule(cron="* * * * *")',
            "dsl.conflicting-tags",
            7,
            5,
            "both @schedule and @stream",
        ),
        ('@sink("jsonl://out.jsonl")', "compile.no-source", 4, 3, "no @source"),
    ],
    ids=[
        "unknown-step",
        "unknown-contract",
        "unknown-scheme",
        "uri-escape",
        "contract-mismatch",
        "when-unknown-field",
        "over-quota",
        "unknown-golden",
        "self-reference",
        "cycle-of-three",
        "unknown-field-param",
        "upsert-needs-key",
        "two-triggers",
        "no-source",
    ],
)
def test_bad_feature_is_reported_at_its_position(
    example_repo: Path, tags: str, code: str, line: int, column: int, words: str
) -> None:
    findings = scenario(example_repo, tags)
    matching = [f for f in findings if f.code == code]
    assert matching, "\n".join(map(str, findings))
    assert (matching[0].line, matching[0].column) == (line, column), str(matching[0])
    assert words in str(matching[0])


def test_unknown_herd_has_a_hint(example_repo: Path) -> None:
    (example_repo / "features/probe.dsl").write_text(
        '@herd("finanse")\nFeature: P\n\n  Scenario: P\n    @source("jsonl://i.jsonl")\n'
        '    @sink("jsonl://o.jsonl")\n'
    )
    findings, _ = compile_repo(example_repo)
    assert [(f.code, f.line, f.column, f.hint) for f in findings] == [
        ("compile.unknown-herd", 1, 7, "did you mean 'finance'?")
    ]


def test_a_broken_contract_file_does_not_cascade(example_repo: Path) -> None:
    path = example_repo / "contracts/trade.yaml"
    path.write_text(path.read_text().replace("version: 2.1.0", "version: [2"))
    findings, plans = compile_repo(example_repo)
    assert not [f for f in findings if f.code == "compile.unknown-contract"]
    assert "ecommerce/orders/clean-orders" in plans


def test_after_makes_a_dag(example_repo: Path) -> None:
    tags = (
        '@source("jsonl://in.jsonl", contract="trade")\n'
        '@step("Filter", id="usd", when="record.currency == \'USD\'")\n'
        '@step("Filter", id="eur", when="record.currency == \'EUR\'", after="source")\n'
        '@sink("jsonl://usd.jsonl", after="usd")\n'
        '@sink("jsonl://eur.jsonl", after="eur")'
    )
    assert scenario(example_repo, tags) == []
    _, plans = compile_repo(example_repo)
    plan = plans["finance/probe/probe"]
    assert sorted((e.source, e.target) for e in plan.edges) == [
        ("eur", "sink-eur-jsonl"),
        ("source", "eur"),
        ("source", "usd"),
        ("usd", "sink-usd-jsonl"),
    ]


def test_graph_renders_with_graphviz(example_repo: Path, tmp_path: Path) -> None:
    _, plans = compile_repo(example_repo)
    dot = to_dot(list(plans.values()))
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "<svg" in svg and "validate&#45;trades" in svg and "DecodeTrade" in svg
    mermaid = to_mermaid(list(plans.values()))
    assert mermaid.startswith("flowchart LR") and "-.-> p0dlq" in mermaid
