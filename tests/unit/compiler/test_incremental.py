"""Incremental compile: work proportional to what changed, results identical to a full one."""

from __future__ import annotations

from pathlib import Path

from runink.compiler import Compiler
from runink.repo import load_repo


def test_unchanged_repo_reuses_everything(example_repo: Path) -> None:
    compiler = Compiler()
    first = compiler.compile(load_repo(example_repo))
    again = compiler.compile(load_repo(example_repo))
    assert (first.stats.compiled, first.stats.reused) == (3, 0)
    assert (again.stats.compiled, again.stats.reused) == (0, 3)
    assert [p.to_json() for p in again.plans] == [p.to_json() for p in first.plans]


def test_one_feature_changed_recompiles_only_it(example_repo: Path) -> None:
    compiler = Compiler()
    compiler.compile(load_repo(example_repo))
    path = example_repo / "features/orders.dsl"
    path.write_text(path.read_text().replace("dlq_ratio=0.05", "dlq_ratio=0.02"))
    result = compiler.compile(load_repo(example_repo))
    assert (result.stats.compiled, result.stats.reused) == (1, 2)
    fresh = Compiler().compile(load_repo(example_repo))
    assert [p.to_json() for p in result.plans] == [p.to_json() for p in fresh.plans]


def test_a_contract_change_recompiles_the_features_that_use_it(example_repo: Path) -> None:
    compiler = Compiler()
    compiler.compile(load_repo(example_repo))
    path = example_repo / "contracts/customer.yaml"
    path.write_text(path.read_text().replace("version: 1.3.0", "version: 1.4.0"))
    result = compiler.compile(load_repo(example_repo))
    assert (result.stats.compiled, result.stats.reused) == (1, 2)
    plan = next(p for p in result.plans if p.pipeline.endswith("maintain-customers"))
    assert plan.node("validate-contract").contract is not None
    assert plan.node("validate-contract").contract.version == "1.4.0"


def test_adding_a_missing_contract_fixes_the_feature_that_named_it(example_repo: Path) -> None:
    path = example_repo / "contracts/customer.yaml"
    text = path.read_text()
    path.unlink()
    compiler = Compiler()
    broken = compiler.compile(load_repo(example_repo))
    assert any(f.code == "compile.unknown-contract" for f in broken.findings)
    path.write_text(text)
    fixed = compiler.compile(load_repo(example_repo))
    assert fixed.ok and fixed.stats.compiled == 1
    assert len(fixed.plans) == 4


def test_a_removed_feature_leaves_the_cache(example_repo: Path) -> None:
    compiler = Compiler()
    compiler.compile(load_repo(example_repo))
    (example_repo / "features/customers.dsl").unlink()
    result = compiler.compile(load_repo(example_repo))
    assert not any("customers" in p.pipeline for p in result.plans)
    assert (result.stats.features, result.stats.reused) == (2, 2)


def test_a_comment_that_moves_lines_keeps_every_plan_hash(example_repo: Path) -> None:
    before = {p.pipeline: p.hash for p in Compiler().compile(load_repo(example_repo)).plans}
    feature = example_repo / "features/orders.dsl"
    feature.write_text("# owned by the orders team\n\n" + feature.read_text())
    after = Compiler().compile(load_repo(example_repo)).plans
    assert {p.pipeline: p.hash for p in after} == before
    assert any(n.position.endswith(":8:5") for p in after for n in p.nodes)  # still precise
