"""Our schemas, checked against themselves and against the official ODCS schemas."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runink.repo import load_repo
from runink.repo.schemas import (
    CONTRACT_SCHEMA,
    ODCS_SCHEMA_URI,
    odcs_schema,
    registry,
    schema_dir,
    validator,
)
from runink.yamlpos import parse_yaml
from tests.conftest import EXAMPLE_REPO, SHARED_SPECS

OFFICIAL_EXAMPLES = sorted((SHARED_SPECS / "odcs" / "examples").glob("*.odcs.yaml"))
OFFICIAL_V310 = SHARED_SPECS / "odcs" / "odcs-json-schema-v3.1.0.json"


def _load(path: Path) -> Any:
    doc, findings = parse_yaml(path.read_text(encoding="utf-8"), path.name)
    assert doc is not None and not findings
    return doc.data


def _official(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def test_official_examples_are_present() -> None:
    assert len(OFFICIAL_EXAMPLES) >= 5, f"expected the official examples in {SHARED_SPECS}"


@pytest.mark.parametrize("example", OFFICIAL_EXAMPLES, ids=lambda p: p.name)
def test_contract_loader_accepts_every_official_example(example: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE_REPO, repo)
    shutil.copy(example, repo / "contracts" / example.name.replace(".odcs", ""))
    snapshot = load_repo(repo)
    assert [str(f) for f in snapshot.findings] == []
    contract_id = _load(example)["id"]
    contract = snapshot.contract(str(contract_id))
    assert contract is not None and contract.schemas


@pytest.mark.parametrize("example", OFFICIAL_EXAMPLES, ids=lambda p: p.name)
def test_official_examples_pass_the_official_schemas_too(example: Path) -> None:
    data = _load(example)
    assert not list(_official(odcs_schema()).iter_errors(data))
    v310 = orjson.loads(OFFICIAL_V310.read_bytes())
    if data["apiVersion"] in v310["properties"]["apiVersion"]["enum"]:
        assert not list(_official(v310).iter_errors(data))


def test_contract_schema_references_the_official_schema_instead_of_copying_it() -> None:
    ours = orjson.loads((schema_dir() / "contract.schema.json").read_bytes())
    assert ours["allOf"] == [{"$ref": ODCS_SCHEMA_URI}]
    assert registry().contents(ODCS_SCHEMA_URI) == odcs_schema()


def test_contract_schema_adds_nothing_the_standard_does_not_define() -> None:
    ours = orjson.loads((schema_dir() / "contract.schema.json").read_bytes())
    official = odcs_schema()
    for name in ours.get("properties", {}):
        assert name in official["properties"], f"{name} is not an ODCS property"
    # Runink reads every v3 version the standard lists.
    pattern = ours["properties"]["apiVersion"]["pattern"]
    v3 = [v for v in official["properties"]["apiVersion"]["enum"] if v.startswith("v3.")]
    assert all(jsonschema.Draft202012Validator({"pattern": pattern}).is_valid(v) for v in v3)


@pytest.mark.parametrize("path", sorted(schema_dir().glob("*.schema.json")), ids=lambda p: p.name)
def test_every_schema_is_valid_2020_12_with_an_id(path: Path) -> None:
    schema = orjson.loads(path.read_bytes())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("https://runink.dev/schemas/v1/")
    assert schema["$id"].endswith(path.name)
    jsonschema.Draft202012Validator.check_schema(schema)


FULL_EXAMPLE = _load(SHARED_SPECS / "odcs" / "examples" / "full-example.odcs.yaml")


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*prefix, key))
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found.extend(_paths(child, (*prefix, i)))
    return found


KEY_PATHS = _paths(FULL_EXAMPLE)


@st.composite
def mutated_contracts(draw: st.DrawFn) -> Any:
    """The official full example with keys dropped or values replaced."""
    data = copy.deepcopy(FULL_EXAMPLE)
    for path in draw(st.lists(st.sampled_from(KEY_PATHS), max_size=4)):
        parent: Any = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()):
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(
                    st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just([]))
                )
        except (KeyError, IndexError, TypeError):
            continue
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_contracts())
def test_contract_schema_agrees_with_the_official_schema(contract: Any) -> None:
    official_ok = _official(odcs_schema()).is_valid(contract)
    ours_ok = validator(CONTRACT_SCHEMA).is_valid(contract)
    is_v3 = isinstance(contract, dict) and str(contract.get("apiVersion", "")).startswith("v3.")
    assert ours_ok == (official_ok and is_v3)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for child in node.values() for r in _refs(child)]
    if isinstance(node, list):
        return [r for child in node for r in _refs(child)]
    return []


@pytest.mark.parametrize("path", sorted(schema_dir().glob("*.schema.json")), ids=lambda p: p.name)
def test_every_reference_resolves_without_the_network(path: Path) -> None:
    schema = orjson.loads(path.read_bytes())
    resolver = registry().resolver(base_uri=schema["$id"])
    refs = _refs(schema)
    for ref in refs:
        assert resolver.lookup(ref).contents is not None
