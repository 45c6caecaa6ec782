"""The audit reads what the change touches, not the whole repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from runink.audit import audit
from tests.conftest import commit_all

pytestmark = pytest.mark.timeout(120)

FEATURE = """@herd("ecommerce")
Feature: Generated {i}

  Scenario: Ingest {i}
    @source("jsonl://data/in_{i}.jsonl", contract="{contract}")
    @step("ValidateContract", contract="{contract}")
    @sink("jsonl://out/out_{i}.jsonl")
"""


def test_contract_change_compiles_only_the_features_that_name_it(example_repo: Path) -> None:
    for i in range(40):
        contract = "customer" if i < 3 else "order"
        (example_repo / f"features/gen_{i:02d}.dsl").write_text(
            FEATURE.format(i=i, contract=contract)
        )
    base = commit_all(example_repo, "base")
    path = example_repo / "contracts/customer.yaml"
    path.write_text(
        path.read_text()
        .replace("version: 1.3.0", "version: 1.4.0")
        .replace("maxLength: 200}", "maxLength: 300}")
    )
    commit_all(example_repo, "longer names")
    report = audit(example_repo, base, "HEAD", golden=False)
    assert not report.full
    # 3 generated features + customers.dsl, on each side
    assert report.features_compiled == 8
    assert report.affected == (
        "ecommerce/customers/maintain-customers",
        "ecommerce/gen-00/ingest-0",
        "ecommerce/gen-01/ingest-1",
        "ecommerce/gen-02/ingest-2",
    )
    (contract,) = report.contracts
    assert [c.rule for c in contract.changes] == ["max-length-loosened"]


def test_settings_change_audits_the_whole_repository(example_repo: Path) -> None:
    base = commit_all(example_repo, "base")
    settings = example_repo / "runink.yaml"
    settings.write_text(settings.read_text().replace("signing: ssh", "signing: none"))
    commit_all(example_repo, "no signing")
    report = audit(example_repo, base, "HEAD", golden=False)
    assert report.full
    assert report.affected == ()
    assert report.ok
