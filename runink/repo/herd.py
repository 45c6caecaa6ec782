"""The Herd model (a tenant: quota, roles, members, secrets, network, isolation)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runink.findings import Finding, did_you_mean
from runink.quantities import QuantityError, parse_cpu, parse_memory
from runink.yamlpos import YamlDocument, format_keypath

VERBS = ("read", "write", "run", "admin", "*")
RESOURCES = ("pipelines", "runs", "secrets", "herds", "nodes", "lineage", "contracts", "*")
SUBJECT_PREFIXES = ("user:", "group:", "service:")


@dataclass(frozen=True)
class Rule:
    """One permission, ``verb:resource``; ``*`` matches any verb or resource."""

    verb: str
    resource: str

    def allows(self, verb: str, resource: str) -> bool:
        return self.verb in ("*", verb) and self.resource in ("*", resource)

    def __str__(self) -> str:
        return f"{self.verb}:{self.resource}"


@dataclass(frozen=True)
class Quota:
    """Herd-wide limits; None means no herd-level limit."""

    cpu_millis: int | None = None
    memory_bytes: int | None = None
    pids: int | None = None
    slices: int | None = None


@dataclass(frozen=True)
class Egress:
    address: str
    port: int


@dataclass(frozen=True)
class NetworkPolicy:
    """No network at all (the default), or egress to the listed destinations only."""

    egress: tuple[Egress, ...] = ()

    @property
    def mode(self) -> str:
        return "egress" if self.egress else "none"


@dataclass(frozen=True)
class Herd:
    name: str
    path: str
    sha: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    quota: Quota = field(default_factory=Quota)
    roles: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict)
    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    placement: Mapping[str, str] = field(default_factory=dict)
    isolation: str = "strict"
    suspend: bool = False

    def permissions(self, subjects: tuple[str, ...]) -> frozenset[Rule]:
        """Every rule granted to any of ``subjects`` (a user and their groups)."""
        rules: set[Rule] = set()
        for subject in subjects:
            for role in self.members.get(subject, ()):
                rules.update(self.roles.get(role, ()))
        return frozenset(rules)


def build_herd(doc: YamlDocument, sha: str) -> tuple[Herd | None, list[Finding]]:
    """A Herd from a schema-valid document, checking what a schema cannot."""
    data: Mapping[str, Any] = doc.data
    spec: Mapping[str, Any] = data.get("spec") or {}
    findings: list[Finding] = []

    def bad(keypath: tuple[str | int, ...], code: str, message: str, hint: str = "") -> None:
        findings.append(
            Finding(code, message, doc.position(keypath), format_keypath(keypath), hint)
        )

    quota_data = spec.get("quota") or {}
    cpu = memory = None
    if "cpu" in quota_data:
        try:
            cpu = parse_cpu(quota_data["cpu"])
        except QuantityError as exc:
            bad(("spec", "quota", "cpu"), "herd.quantity", str(exc))
    if "memory" in quota_data:
        try:
            memory = parse_memory(quota_data["memory"])
        except QuantityError as exc:
            bad(("spec", "quota", "memory"), "herd.quantity", str(exc))
    quota = Quota(cpu, memory, quota_data.get("pids"), quota_data.get("slices"))

    roles: dict[str, tuple[Rule, ...]] = {}
    for role, texts in (spec.get("roles") or {}).items():
        rules = []
        for i, text in enumerate(texts):
            verb, _, resource = str(text).partition(":")
            where: tuple[str | int, ...] = ("spec", "roles", role, i)
            if verb not in VERBS:
                bad(
                    where,
                    "herd.rule",
                    f"unknown verb {verb!r} in rule {text!r}",
                    did_you_mean(verb, VERBS) or f"verbs: {', '.join(VERBS)}",
                )
            elif resource not in RESOURCES:
                bad(
                    where,
                    "herd.rule",
                    f"unknown resource {resource!r} in rule {text!r}",
                    did_you_mean(resource, RESOURCES) or f"resources: {', '.join(RESOURCES)}",
                )
            else:
                rules.append(Rule(verb, resource))
        roles[role] = tuple(rules)

    members: dict[str, tuple[str, ...]] = {}
    for subject, names in (spec.get("members") or {}).items():
        where = ("spec", "members", subject)
        if "@" not in subject and not subject.startswith(SUBJECT_PREFIXES):
            findings.append(
                Finding(
                    "herd.subject",
                    f"member {subject!r} is neither an e-mail address nor a prefixed subject",
                    doc.position(where, key=True),
                    format_keypath(where),
                    "write alice@example.com, user:alice, group:auditors or service:ci",
                )
            )
        for i, role in enumerate(names):
            if role not in roles:
                bad(
                    (*where, i),
                    "herd.unknown-role",
                    f"member {subject!r} has role {role!r}, which this herd does not define",
                    did_you_mean(role, roles) or f"defined roles: {', '.join(sorted(roles))}",
                )
        members[subject] = tuple(names)

    network = NetworkPolicy()
    net = spec.get("network", "none")
    if isinstance(net, Mapping):
        egress = []
        for i, text in enumerate(net.get("egress", [])):
            address, _, port_text = str(text).rpartition(":")
            where = ("spec", "network", "egress", i)
            port = int(port_text)
            try:
                ipaddress.ip_network(address.strip("[]"), strict=False)
            except ValueError:
                bad(
                    where,
                    "herd.egress",
                    f"{address!r} is not an IP address or network",
                    "name destinations by address (10.0.0.5) or CIDR (10.0.0.0/24)",
                )
                continue
            if not 1 <= port <= 65535:
                bad(where, "herd.egress", f"port {port} is out of range", "ports are 1-65535")
                continue
            egress.append(Egress(address.strip("[]"), port))
        network = NetworkPolicy(tuple(egress))

    metadata = data.get("metadata") or {}
    herd = Herd(
        name=str(metadata.get("name")),
        path=doc.path,
        sha=sha,
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        quota=quota,
        roles=roles,
        members=members,
        secrets=tuple(spec.get("secrets") or ()),
        network=network,
        placement=dict(spec.get("labels") or {}),
        isolation=str(spec.get("isolation", "strict")),
        suspend=bool(spec.get("suspend", False)),
    )
    return herd, findings
