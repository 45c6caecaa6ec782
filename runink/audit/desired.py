"""Desired-state diff: what the controllers would do after merge, computed from Plans.

Plans are compared by a digest of their content in which each contract is
represented by its parsed document rather than its file's blob sha, so a comment
or reformatting in a contract (or a feature) changes nothing. Herds are compared
field by field (quota, roles, members, secrets, network, ...), not by file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from runink.compiler.plan import Plan, canonical_json
from runink.contracts.model import Contract
from runink.repo.herd import Herd
from runink.repo.snapshot import RepoSnapshot


@dataclass(frozen=True)
class PlanChange:
    """One changed pipeline and a compact list of what changed in its Plan."""

    pipeline: str
    herd: str
    changes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline, "herd": self.herd, "changes": list(self.changes)}


@dataclass(frozen=True)
class HerdChange:
    """A herd added, removed or changed (with what changed)."""

    herd: str
    action: str
    changes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"herd": self.herd, "action": self.action, "changes": list(self.changes)}


@dataclass(frozen=True)
class DesiredDiff:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[PlanChange, ...] = ()
    herds: tuple[HerdChange, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.herds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [c.to_dict() for c in self.changed],
            "herds": [h.to_dict() for h in self.herds],
        }


def contract_digests(contracts: Iterable[Contract]) -> dict[str, str]:
    """contract blob sha -> digest of its parsed document (blind to comments and layout)."""
    return {c.sha: hashlib.sha256(canonical_json(dict(c.document))).hexdigest() for c in contracts}


def plan_digest(plan: Plan, digests: Mapping[str, str]) -> str:
    """The Plan's content hash with each contract named by its document's digest."""
    content = plan.content()
    for node in content["nodes"]:
        contract = node.get("contract")
        if contract is not None:
            contract["sha"] = digests.get(contract["sha"], contract["sha"])
        node.pop("position", None)
    for assertion in content["assertions"]:
        assertion.pop("position", None)
    return hashlib.sha256(canonical_json(content)).hexdigest()


def herd_content(herd: Herd) -> dict[str, Any]:
    """A herd's fields, without where it was read from."""
    data = asdict(herd)
    data.pop("path")
    data.pop("sha")
    return data


def diff_herds(base: Iterable[Herd], head: Iterable[Herd]) -> tuple[HerdChange, ...]:
    """Herds added, removed, and changed field by field."""
    old = {h.name: herd_content(h) for h in base}
    new = {h.name: herd_content(h) for h in head}
    result = [HerdChange(n, "removed") for n in sorted(old.keys() - new.keys())]
    result += [HerdChange(n, "added") for n in sorted(new.keys() - old.keys())]
    for name in sorted(old.keys() & new.keys()):
        if old[name] != new[name]:
            result.append(HerdChange(name, "changed", tuple(_field_changes(old[name], new[name]))))
    return tuple(sorted(result, key=lambda h: h.herd))


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines.extend(_field_changes(a, b, f"{name}."))
        else:
            lines.append(f"{name}: {_short(a)} -> {_short(b)}")
    return lines


def _short(value: Any) -> str:
    text = canonical_json(value).decode()
    return text if len(text) <= 120 else text[:117] + "..."


def diff_plans(
    old: Plan, new: Plan, old_digests: Mapping[str, str], new_digests: Mapping[str, str]
) -> tuple[str, ...]:
    """What changed from ``old`` to ``new``: steps, parameters, trigger, resources, contracts."""
    lines: list[str] = []
    if old.herd != new.herd:
        lines.append(f"herd: {old.herd} -> {new.herd}")
    old_nodes = {n.id: n for n in old.nodes}
    new_nodes = {n.id: n for n in new.nodes}
    for node_id in [n.id for n in old.nodes if n.id not in new_nodes]:
        lines.append(f"{old_nodes[node_id].kind} removed: {node_id} ({old_nodes[node_id].name})")
    for node_id in [n.id for n in new.nodes if n.id not in old_nodes]:
        lines.append(f"{new_nodes[node_id].kind} added: {node_id} ({new_nodes[node_id].name})")
    for node_id in [n.id for n in new.nodes if n.id in old_nodes]:
        a, b = old_nodes[node_id], new_nodes[node_id]
        for key in ("name", "uri", "when", "batch", "module"):
            if getattr(a, key) != getattr(b, key):
                lines.append(
                    f"{node_id}.{key}: {_short(getattr(a, key))} -> {_short(getattr(b, key))}"
                )
        if dict(a.params) != dict(b.params):
            lines.extend(f"{node_id}.params.{line}" for line in _field_changes(a.params, b.params))
        if a.module_sha != b.module_sha and a.module == b.module:
            lines.append(f"{node_id}: user step code changed ({b.module})")
        ca, cb = a.contract, b.contract
        if (ca is None) != (cb is None) or (
            ca is not None
            and cb is not None
            and (
                ca.id != cb.id
                or ca.version != cb.version
                or old_digests.get(ca.sha, ca.sha) != new_digests.get(cb.sha, cb.sha)
            )
        ):
            before = f"{ca.id}@{ca.version}" if ca else "none"
            after = f"{cb.id}@{cb.version}" if cb else "none"
            same = before == after
            lines.append(
                f"{node_id}.contract: {before} -> {after}" + (" (content changed)" if same else "")
            )
    if [(e.source, e.target) for e in old.edges] != [
        (e.source, e.target) for e in new.edges
    ] and not any("added" in line or "removed" in line for line in lines):
        lines.append("edges changed")
    if old.trigger != new.trigger:
        lines.append(f"trigger: {_short(asdict(old.trigger))} -> {_short(asdict(new.trigger))}")
    if old.resources != new.resources:
        lines.append(
            f"resources: {_short(asdict(old.resources))} -> {_short(asdict(new.resources))}"
        )
    for key in ("dlq", "golden", "slo", "affinity", "assertions", "title", "description"):
        a_value, b_value = getattr(old, key), getattr(new, key)
        if key == "assertions":
            a_value = [x.expression for x in a_value]
            b_value = [x.expression for x in b_value]
        if a_value != b_value:
            a_plain = asdict(a_value) if key == "slo" else a_value
            b_plain = asdict(b_value) if key == "slo" else b_value
            lines.append(f"{key}: {_short(a_plain)} -> {_short(b_plain)}")
    return tuple(lines) or ("plan content changed",)


def desired_diff(
    base: RepoSnapshot | None,
    base_plans: Iterable[Plan],
    head: RepoSnapshot,
    head_plans: Iterable[Plan],
) -> tuple[DesiredDiff, dict[str, str]]:
    """The desired-state diff, and pipeline -> why it is affected (added or changed)."""
    old_digests = contract_digests(base.contracts if base else ())
    new_digests = contract_digests(head.contracts)
    old = {p.pipeline: p for p in base_plans}
    new = {p.pipeline: p for p in head_plans}
    why: dict[str, str] = {}
    changed: list[PlanChange] = []
    for pipeline in sorted(new):
        plan = new[pipeline]
        if pipeline not in old:
            why[pipeline] = "added"
        elif plan_digest(old[pipeline], old_digests) != plan_digest(plan, new_digests):
            why[pipeline] = "plan changed"
            changed.append(
                PlanChange(
                    pipeline, plan.herd, diff_plans(old[pipeline], plan, old_digests, new_digests)
                )
            )
    herds = diff_herds(base.herds if base else (), head.herds) if base else ()
    return (
        DesiredDiff(
            added=tuple(p for p in sorted(new) if p not in old),
            removed=tuple(p for p in sorted(old) if p not in new),
            changed=tuple(changed),
            herds=herds,
        ),
        why,
    )
