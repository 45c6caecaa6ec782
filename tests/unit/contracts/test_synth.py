"""Synthetic records: valid ones pass the contract's checker, invalid ones break one rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runink.contracts.checker import ContractCheckError, Violation, compile_checker
from runink.contracts.load import build_contract
from runink.contracts.model import Contract
from runink.contracts.synth import SynthError, Synthetic, generate, synthesize
from runink.repo.loader import load_repo
from runink.yamlpos import parse_yaml

EXAMPLE_REPO = Path(__file__).resolve().parents[3] / "example-repo"
EXAMPLE_CONTRACTS = sorted(c.id for c in load_repo(EXAMPLE_REPO).contracts)
N = 500

# Every rule the generator has to honour, in one schema object.
RICH_PROPERTIES: list[dict[str, Any]] = [
    {"name": "region", "logicalType": "string", "primaryKey": True, "primaryKeyPosition": 1,
     "logicalTypeOptions": {"pattern": "^[A-Z]{2}$"}},
    {"name": "seq", "logicalType": "integer", "primaryKey": True, "primaryKeyPosition": 2,
     "logicalTypeOptions": {"minimum": 0, "maximum": 99}},
    {"name": "id", "logicalType": "string", "required": True, "unique": True,
     "logicalTypeOptions": {"format": "uuid"}},
    {"name": "code", "logicalType": "string", "required": True,
     "logicalTypeOptions": {"pattern": r"^[^a-z0-9]{3}-\w{2,4}\W\d?$", "maxLength": 12}},
    {"name": "email", "logicalType": "string", "unique": True,
     "logicalTypeOptions": {"format": "email"}},
    {"name": "site", "logicalType": "string", "logicalTypeOptions": {"format": "uri"}},
    {"name": "host", "logicalType": "string", "logicalTypeOptions": {"format": "hostname"}},
    {"name": "ip4", "logicalType": "string", "logicalTypeOptions": {"format": "ipv4"}},
    {"name": "ip6", "logicalType": "string", "logicalTypeOptions": {"format": "ipv6"}},
    {"name": "label", "logicalType": "string", "required": True,
     "logicalTypeOptions": {"minLength": 3, "maxLength": 5}},
    {"name": "level", "logicalType": "integer", "required": True,
     "logicalTypeOptions": {"exclusiveMinimum": -5, "exclusiveMaximum": 50, "multipleOf": 5}},
    {"name": "tiny", "logicalType": "integer", "logicalTypeOptions": {"format": "i8"}},
    {"name": "ratio", "logicalType": "number", "required": True,
     "logicalTypeOptions": {"exclusiveMinimum": 0, "maximum": 1}},
    {"name": "flag", "logicalType": "boolean", "required": True},
    {"name": "tier", "logicalType": "integer", "enum": [{"value": 1}, {"value": 2}]},
    {"name": "day", "logicalType": "date", "required": True,
     "logicalTypeOptions": {"minimum": "2024-02-01", "exclusiveMaximum": "2024-03-01"}},
    {"name": "at", "logicalType": "timestamp", "required": True,
     "logicalTypeOptions": {"minimum": "2024-01-01T00:00:00+02:00"}},
    {"name": "local", "logicalType": "timestamp", "logicalTypeOptions": {"timezone": False}},
    {"name": "opens", "logicalType": "time",
     "logicalTypeOptions": {"minimum": "08:00", "maximum": "17:30"}},
    {"name": "address", "logicalType": "object", "required": True,
     "logicalTypeOptions": {"minProperties": 3},
     "properties": [
         {"name": "city", "logicalType": "string", "required": True},
         {"name": "zip", "logicalType": "string", "logicalTypeOptions": {"pattern": "^[0-9]{5}$"}},
     ]},
    {"name": "lines", "logicalType": "array", "required": True,
     "logicalTypeOptions": {"minItems": 1, "maxItems": 4},
     "items": {"name": "line", "logicalType": "object", "properties": [
         {"name": "sku", "logicalType": "string", "required": True,
          "logicalTypeOptions": {"pattern": "^SKU-[0-9]{4}$"}},
         {"name": "qty", "logicalType": "integer", "required": True,
          "logicalTypeOptions": {"minimum": 1}},
     ]}},
    {"name": "tags", "logicalType": "array", "logicalTypeOptions": {"uniqueItems": True},
     "items": {"name": "tag", "logicalType": "string", "enum": [
         {"value": "a"}, {"value": "b"}, {"value": "c"}]}},
    {"name": "embedding", "logicalType": "vector", "logicalTypeOptions": {"dimensions": 4}},
    {"name": "anything"},
]  # fmt: skip


def contract_of(properties: list[dict[str, Any]], **extra: Any) -> Contract:
    """A contract with one schema object holding ``properties``, through the real loader."""
    document = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "things",
        "version": "1.0.0",
        "status": "active",
        "schema": extra.pop("schema", None) or [{"name": "things", "properties": properties}],
        **extra,
    }
    doc, findings = parse_yaml(yaml.safe_dump(document, sort_keys=False), "contracts/t.yaml")
    assert doc is not None, findings
    return build_contract(doc, "0" * 40)


@pytest.fixture(scope="module")
def contracts() -> dict[str, Contract]:
    return {c.id: c for c in load_repo(EXAMPLE_REPO).contracts}


def violations_of(contract: Contract, records: list[dict[str, Any]]) -> list[list[Violation]]:
    """Each record's violations, checked in order by one checker (so keys are checked too)."""
    checker = compile_checker(contract)
    return [checker.check(record) for record in records]


def as_bytes(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


@pytest.mark.parametrize("contract_id", EXAMPLE_CONTRACTS)
def test_every_record_of_an_example_contract_satisfies_it(
    contracts: dict[str, Contract], contract_id: str
) -> None:
    contract = contracts[contract_id]
    records = list(synthesize(contract, N, seed=7))
    assert len(records) == N
    assert [v for v in violations_of(contract, records) if v] == []


@pytest.mark.parametrize("contract_id", EXAMPLE_CONTRACTS)
def test_invalid_ratio_breaks_exactly_one_rule_in_exactly_round_n_r_records(
    contracts: dict[str, Contract], contract_id: str
) -> None:
    contract = contracts[contract_id]
    items = list(generate(contract, N, seed=11, invalid_ratio=0.2))
    found = violations_of(contract, [i.record for i in items])
    failing = [(item, v) for item, v in zip(items, found, strict=True) if v]
    assert len(failing) == round(N * 0.2)
    assert all(len(v) == 1 for _, v in failing)
    # What the generator says each record breaks is what the checker finds.
    assert all(item.rule == v[0].rule for item, v in failing)
    assert all(not v for item, v in zip(items, found, strict=True) if item.valid)


def test_invalid_records_cover_every_kind_of_broken_rule(contracts: dict[str, Contract]) -> None:
    items = list(generate(contracts["order"], N, seed=3, invalid_ratio=0.5))
    rules = {i.rule for i in items if not i.valid}
    assert {"required", "logicalType", "pattern", "enum", "minimum", "primaryKey"} <= rules


def test_a_duplicate_key_copies_an_earlier_valid_record(contracts: dict[str, Contract]) -> None:
    items = list(generate(contracts["customer"], 200, seed=5, invalid_ratio=0.5))
    duplicates = [n for n, i in enumerate(items) if i.rule in ("primaryKey", "unique")]
    assert duplicates
    for n in duplicates:
        field = items[n].field
        assert field in ("customer_id", "email")
        earlier = {i.record.get(field) for i in items[:n] if i.valid}
        assert items[n].record[field] in earlier


def test_every_rule_of_a_rich_contract_holds_for_every_record() -> None:
    contract = contract_of(RICH_PROPERTIES)
    records = list(synthesize(contract, N, seed=1))
    assert [v for v in violations_of(contract, records) if v] == []
    # Optional properties appear, and nested ones are generated too.
    assert any("email" in r for r in records)
    assert all(r["lines"] and "sku" in r["lines"][0] for r in records)


def test_a_rich_contract_with_invalid_records_breaks_one_rule_each() -> None:
    contract = contract_of(RICH_PROPERTIES)
    items = list(generate(contract, N, seed=2, invalid_ratio=0.3))
    found = violations_of(contract, [i.record for i in items])
    assert sum(1 for v in found if v) == round(N * 0.3)
    assert all(len(v) == (0 if item.valid else 1) for item, v in zip(items, found, strict=True))


def test_the_same_seed_gives_the_same_records(contracts: dict[str, Contract]) -> None:
    contract = contract_of(RICH_PROPERTIES)
    first = as_bytes(list(synthesize(contract, 100, seed=42, invalid_ratio=0.1)))
    again = as_bytes(list(synthesize(contract, 100, seed=42, invalid_ratio=0.1)))
    assert first == again


def test_a_different_seed_gives_different_records(contracts: dict[str, Contract]) -> None:
    contract = contracts["trade"]
    assert list(synthesize(contract, 50, seed=1)) != list(synthesize(contract, 50, seed=2))


def test_generation_leaves_the_global_random_state_alone(contracts: dict[str, Contract]) -> None:
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    list(synthesize(contracts["trade"], 20, seed=9, invalid_ratio=0.5))
    assert random.random() == expected


def test_zero_records_is_an_empty_stream(contracts: dict[str, Contract]) -> None:
    assert list(synthesize(contracts["trade"], 0, seed=1, invalid_ratio=1.0)) == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    count=st.integers(min_value=1, max_value=60),
    ratio=st.floats(min_value=0.0, max_value=1.0),
    low=st.integers(min_value=-1000, max_value=1000),
    width=st.integers(min_value=60, max_value=5000),
)
def test_any_seed_count_ratio_and_bounds_keep_the_guarantees(
    seed: int, count: int, ratio: float, low: int, width: int
) -> None:
    contract = contract_of(
        [
            {
                "name": "k",
                "logicalType": "integer",
                "primaryKey": True,
                "logicalTypeOptions": {"minimum": low, "maximum": low + width},
            },
            {
                "name": "s",
                "logicalType": "string",
                "required": True,
                "logicalTypeOptions": {"pattern": "^[a-c]{2}[0-9]+$", "maxLength": 8},
            },
            {"name": "e", "logicalType": "string", "enum": [{"value": "x"}, {"value": "y"}]},
        ]
    )
    items = list(generate(contract, count, seed, invalid_ratio=ratio))
    found = violations_of(contract, [i.record for i in items])
    assert len(items) == count
    assert sum(1 for v in found if v) == round(count * ratio)
    assert all(len(v) == (0 if item.valid else 1) for item, v in zip(items, found, strict=True))


def test_an_ungeneratable_pattern_names_the_property_and_pattern() -> None:
    contract = contract_of(
        [{"name": "code", "logicalType": "string", "logicalTypeOptions": {"pattern": "^a++$"}}]
    )
    with pytest.raises(SynthError) as caught:
        synthesize(contract, 1, seed=1)
    finding = caught.value.findings[0]
    assert "'code'" in finding.message and "'^a++$'" in finding.message
    assert "enum" in finding.hint


def test_too_few_distinct_values_for_a_unique_property_is_an_error() -> None:
    contract = contract_of(
        [
            {
                "name": "k",
                "logicalType": "string",
                "unique": True,
                "logicalTypeOptions": {"pattern": "^[ab]$"},
            },
        ]
    )
    assert len(list(synthesize(contract, 2, seed=1))) == 2
    with pytest.raises(SynthError, match="too few distinct values"):
        list(synthesize(contract, 3, seed=1))


def test_a_schema_object_without_properties_is_an_error() -> None:
    with pytest.raises(SynthError, match="has no properties"):
        synthesize(contract_of([]), 1, seed=1)


def test_an_unknown_schema_object_is_an_error(contracts: dict[str, Contract]) -> None:
    with pytest.raises(ContractCheckError, match="no schema object 'nope'"):
        synthesize(contracts["trade"], 1, seed=1, schema="nope")


def test_a_named_schema_object_is_the_one_generated() -> None:
    contract = contract_of(
        [],
        schema=[
            {"name": "a", "properties": [{"name": "x", "logicalType": "integer"}]},
            {
                "name": "b",
                "properties": [{"name": "y", "logicalType": "boolean", "required": True}],
            },
        ],
    )
    assert all(set(r) == {"y"} for r in synthesize(contract, 10, seed=1, schema="b"))


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_a_ratio_outside_zero_to_one_is_refused(
    contracts: dict[str, Contract], ratio: float
) -> None:
    with pytest.raises(ValueError, match="invalid_ratio"):
        synthesize(contracts["trade"], 1, seed=1, invalid_ratio=ratio)


def test_a_valid_synthetic_record_says_so() -> None:
    assert Synthetic({"a": 1}).valid
    assert not Synthetic({}, rule="required", field="a").valid
