"""The example repository's golden sets, run in process through the compiled plans' steps.

No processes and no pipes: the steps of each plan, built with ``make_step`` (the user
step ``DecodeTrade`` loaded from ``example-repo/steps/trades.py``), then the plan's
assertions, chained in plan order. What reaches the first sink must be
``expected.jsonl``, in order; what reaches the DLQ must be ``expected_dlq.jsonl``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from runink.compiler import Compiler, Node, Plan
from runink.contracts.model import Contract
from runink.dsl.expr import compile_expression
from runink.repo.loader import load_repo
from runink.steps.builtin import AssertStep
from runink.steps.runtime import (
    DlqEntry,
    StepContext,
    StepImpl,
    load_user_step,
    make_step,
)

EXAMPLE_REPO = Path(__file__).resolve().parents[3] / "example-repo"
GOLDEN_SETS = ("golden/trades/validate", "golden/orders/clean")
# Steps after which the records no longer have the shape of the contract they had.
_RESHAPING = {"Select", "Rename", "Aggregate"}


@dataclass
class Chain:
    steps: list[StepImpl]
    sink_when: str | None


@pytest.fixture(scope="module")
def plans() -> dict[str, tuple[Plan, dict[str, Contract]]]:
    snapshot = load_repo(EXAMPLE_REPO)
    result = Compiler().compile(snapshot)
    assert result.ok, result.findings
    contracts = {c.id: c for c in snapshot.contracts}
    return {p.golden: (p, contracts) for p in result.plans if p.golden}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def chain_nodes(plan: Plan) -> tuple[Node, list[Node], Node]:
    """The source, the steps in edge order, and the first sink."""
    source = next(n for n in plan.nodes if n.kind == "source")
    steps: list[Node] = []
    current = source
    while True:
        targets = [plan.node(t) for t in plan.downstream(current.id)]
        following = [t for t in targets if t.kind == "step"]
        if not following:
            sinks = [n for n in plan.nodes if n.kind == "sink" and n.id in {t.id for t in targets}]
            return source, steps, sinks[0]
        assert len(following) == 1, "the golden scenarios are linear"
        current = following[0]
        steps.append(current)


def build_chain(plan: Plan, contracts: dict[str, Contract]) -> Chain:
    source, nodes, sink = chain_nodes(plan)
    current = contracts[source.contract.id] if source.contract else None
    steps: list[StepImpl] = []
    ctx = None
    for node in nodes:
        if node.module is not None:
            load_user_step(EXAMPLE_REPO / node.module, node.name)
        ctx = StepContext(
            run_id="golden",
            herd=plan.herd,
            pipeline=plan.pipeline,
            step_id=node.id,
            contracts=contracts,
            input_contract=current,
            mask_key=b"golden-test-key",
        )
        steps.append(make_step(node.name, node.params, ctx))
        if node.contract is not None:
            current = contracts[node.contract.id]
        elif node.module is not None or node.name in _RESHAPING:
            current = None
    if plan.assertions:
        assert_ctx = StepContext(
            run_id="golden",
            herd=plan.herd,
            pipeline=plan.pipeline,
            step_id="assert",
            contracts=contracts,
            input_contract=current,
        )
        steps.append(AssertStep(plan.assertions, assert_ctx))
    return Chain(steps, sink.when)


def batches(records: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def run_chain(
    chain: Chain, records: list[dict[str, Any]], batch_size: int
) -> tuple[list[dict[str, Any]], list[DlqEntry]]:
    out: list[dict[str, Any]] = []
    dlq: list[DlqEntry] = []

    def push(i: int, batch: list[dict[str, Any]]) -> None:
        if i == len(chain.steps):
            out.extend(batch)
            return
        outcome = chain.steps[i].process(batch)
        assert outcome.accounts_for(len(batch)), (chain.steps[i].name, outcome)
        dlq.extend(outcome.dlq)
        push(i + 1, outcome.records)

    for batch in batches(records, batch_size):
        push(0, batch)
    for i, step in enumerate(chain.steps):
        flushed = step.flush()
        assert flushed.consumed == flushed.filtered == 0 and not flushed.dlq
        push(i + 1, flushed.records)
    if chain.sink_when is not None:
        when = compile_expression(chain.sink_when, "sink", boolean=True)
        out = [r for r in out if when.test(r)]
    return out, dlq


def matches(entry: DlqEntry, want: dict[str, Any]) -> bool:
    """Step and record equal, and the contract too when the golden line names one."""
    return (
        entry.step == want["step"]
        and entry.record == want["record"]
        and ("contract" not in want or entry.contract == want["contract"])
    )


@pytest.mark.parametrize("golden", GOLDEN_SETS)
@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_golden_set_reaches_the_sink_and_dlq_it_expects(
    plans: dict[str, tuple[Plan, dict[str, Contract]]], golden: str, batch_size: int
) -> None:
    plan, contracts = plans[golden]
    directory = EXAMPLE_REPO / golden
    records = read_jsonl(directory / "input.jsonl")
    expected = read_jsonl(directory / "expected.jsonl")
    expected_dlq = read_jsonl(directory / "expected_dlq.jsonl")

    out, dlq = run_chain(build_chain(plan, contracts), records, batch_size)

    assert out == expected
    assert [list(r) for r in out] == [list(r) for r in expected], "field order"
    assert all(entry.reason for entry in dlq)
    assert len(dlq) == len(expected_dlq), [e.to_dict() for e in dlq]
    if batch_size == 1:
        # One record at a time through the whole chain: the DLQ is in input order.
        assert all(matches(e, w) for e, w in zip(dlq, expected_dlq, strict=True))
    else:
        # Batches reach the DLQ step after step, so only the contents are fixed.
        unmatched = list(dlq)
        for want in expected_dlq:
            hit = next((e for e in unmatched if matches(e, want)), None)
            assert hit is not None, want
            unmatched.remove(hit)


def test_golden_dlq_reasons_name_every_violation_and_the_user_error(
    plans: dict[str, tuple[Plan, dict[str, Contract]]],
) -> None:
    plan, contracts = plans["golden/trades/validate"]
    records = read_jsonl(EXAMPLE_REPO / "golden/trades/validate/input.jsonl")

    _, dlq = run_chain(build_chain(plan, contracts), records, 1)

    reasons = {entry.record["trade_id"]: entry for entry in dlq}
    assert reasons["T000003"].reason == "side: 'HOLD' is not one of BUY, SELL"
    assert reasons["T000005"].reason == "quantity: 0 is less than the minimum 1"
    decode = reasons["T000004"]
    assert decode.reason == "DecodeTrade raised ValueError: payload has 3 fields, expected 7"
    assert decode.traceback is not None
    assert "trades.py" in decode.traceback
    assert "runink/steps" not in decode.traceback
