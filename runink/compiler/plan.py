"""The Plan: one compiled pipeline, as Barn stores it and agents run it.

A Plan is plain data with a stable JSON form (sorted keys, no whitespace variance):
the same repository content gives the same bytes. Its ``hash`` covers everything
an agent runs, and not the revision it came from, so a commit that does not change
a pipeline does not restart it.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

PLAN_VERSION = 1


def slug(text: str) -> str:
    """``"Validate trades"`` -> ``validate-trades``, ``MaskPII`` -> ``mask-pii``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", ascii_text)
    result = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if result:
        return result
    # A name with no ASCII letters ("検証") still needs a distinct, stable id.
    return "x-" + hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class ContractRef:
    """A contract as resolved at compile time."""

    id: str
    version: str
    sha: str


@dataclass(frozen=True)
class Node:
    """One slice of the pipeline: a source, a step or a sink.

    ``kind`` is ``source``, ``step`` or ``sink``. For sources and sinks ``name`` is the
    URI scheme and ``uri`` the address; for steps ``name`` is the step's name and
    ``module`` the user module that defines it (None for built-ins).
    """

    id: str
    kind: str
    name: str
    position: str
    params: Mapping[str, Any] = field(default_factory=dict)
    uri: str | None = None
    contract: ContractRef | None = None
    module: str | None = None
    module_sha: str | None = None
    batch: bool = False
    when: str | None = None
    fields_out: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str


@dataclass(frozen=True)
class Trigger:
    """``once`` per revision, on a cron ``schedule``, or a long-running ``stream``."""

    kind: str
    cron: str | None = None
    interval_seconds: int | None = None


@dataclass(frozen=True)
class Resources:
    """What each slice of the pipeline asks for (DESIGN §5: the slice's cgroup)."""

    cpu_millis: int
    memory_bytes: int


@dataclass(frozen=True)
class Assertion:
    """A per-record check: an ``@assert`` tag or a backticked ``Then`` line."""

    expression: str
    position: str


@dataclass(frozen=True)
class Slo:
    dlq_ratio: float | None = None
    freshness_seconds: int | None = None


@dataclass(frozen=True)
class Plan:
    """One Scenario of one Feature, compiled."""

    pipeline: str
    herd: str
    feature: str
    scenario: str
    title: str
    description: tuple[str, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    trigger: Trigger
    resources: Resources
    dlq: str
    assertions: tuple[Assertion, ...] = ()
    golden: str | None = None
    slo: Slo = field(default_factory=Slo)
    affinity: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    revision: str | None = None

    def content(self) -> dict[str, Any]:
        """Everything that defines what runs.

        The revision and the file shas it was compiled from are not part of it: a
        commit that leaves a pipeline as it was does not change its hash. User code
        and contracts are, through each node's ``module_sha`` and contract sha.
        """
        data = asdict(self)
        data.pop("revision")
        data.pop("inputs")
        data["version"] = PLAN_VERSION
        return data

    @functools.cached_property
    def hash(self) -> str:
        """sha256 of the canonical content without source positions: equal plans, equal
        hashes, and a comment that moves a feature's lines changes no hash. Computed
        once per Plan (a frozen value)."""
        content = self.content()
        for item in (*content["nodes"], *content["assertions"]):
            item.pop("position", None)
        return hashlib.sha256(canonical_json(content)).hexdigest()

    def at_revision(self, revision: str | None) -> Plan:
        """This Plan tagged with ``revision``; the hash (which leaves the revision out)
        is carried over, so a Plan reused across commits is hashed once."""
        tagged = replace(self, revision=revision)
        tagged.__dict__["hash"] = self.hash
        return tagged

    def to_dict(self) -> dict[str, Any]:
        data = self.content()
        data["revision"] = self.revision
        data["inputs"] = dict(self.inputs)
        data["hash"] = self.hash
        return data

    def to_json(self) -> bytes:
        """Canonical JSON: sorted keys, stable bytes."""
        return canonical_json(self.to_dict())

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def downstream(self, node_id: str) -> tuple[str, ...]:
        return tuple(e.target for e in self.edges if e.source == node_id)


def canonical_json(data: Any) -> bytes:
    """JSON with sorted keys and no insignificant whitespace."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """Rebuild a Plan from :meth:`Plan.to_dict` output (e.g. read back from Barn)."""

    def contract(value: Any) -> ContractRef | None:
        return None if value is None else ContractRef(**value)

    nodes = tuple(
        Node(
            **{
                **n,
                "contract": contract(n.get("contract")),
                "fields_out": None if n.get("fields_out") is None else tuple(n["fields_out"]),
            }
        )
        for n in data["nodes"]
    )
    return Plan(
        pipeline=data["pipeline"],
        herd=data["herd"],
        feature=data["feature"],
        scenario=data["scenario"],
        title=data["title"],
        description=tuple(data["description"]),
        nodes=nodes,
        edges=tuple(Edge(**e) for e in data["edges"]),
        trigger=Trigger(**data["trigger"]),
        resources=Resources(**data["resources"]),
        dlq=data["dlq"],
        assertions=tuple(Assertion(**a) for a in data["assertions"]),
        golden=data.get("golden"),
        slo=Slo(**data["slo"]),
        affinity=dict(data.get("affinity") or {}),
        inputs=dict(data.get("inputs") or {}),
        revision=data.get("revision"),
    )
