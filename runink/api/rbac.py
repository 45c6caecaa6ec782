"""Herd RBAC: which ``verb:resource`` each RPC needs, and whether a caller holds it.

Rules come from the herd (DESIGN §3): ``roles`` map a role to rules, ``members`` map a
subject (a person, ``group:...``, ``service:...``) to roles. A Runink token is bound to
one herd and one role; an OIDC token is matched against ``members``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runink.api.tokens import Principal
from runink.repo.herd import Herd, Rule


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str

    def __str__(self) -> str:
        return f"{self.verb}:{self.resource}"


READ_PIPELINES = Permission("read", "pipelines")
READ_RUNS = Permission("read", "runs")
READ_HERDS = Permission("read", "herds")
READ_NODES = Permission("read", "nodes")
READ_SECRETS = Permission("read", "secrets")
WRITE_SECRETS = Permission("write", "secrets")

#: Marks an RPC only an agent's node certificate may call (tokens grant nothing there).
AGENT_ONLY = "agent certificate"

#: The permission every RPC needs, checked before it touches Barn.
RPC_PERMISSIONS: dict[str, Permission | str] = {
    "Status.GetSource": READ_PIPELINES,
    "Status.ListHerds": READ_PIPELINES,
    "Status.GetHerd": READ_HERDS,
    "Status.ListPipelines": READ_PIPELINES,
    "Status.GetPipeline": READ_PIPELINES,
    "Status.ListRuns": READ_RUNS,
    "Status.GetRun": READ_RUNS,
    "Status.ListNodes": READ_NODES,
    "Secrets.SetSecret": WRITE_SECRETS,
    "Secrets.ListSecrets": READ_SECRETS,
    "Agent.Register": AGENT_ONLY,
    "Agent.Heartbeat": AGENT_ONLY,
    "Agent.WatchAssignments": AGENT_ONLY,
    "Agent.ReportSlices": AGENT_ONLY,
    "Agent.ReportRun": AGENT_ONLY,
    "Agent.GetSecret": AGENT_ONLY,
    "Agent.ListPipelineRuns": AGENT_ONLY,
    "Agent.SaveCheckpoint": AGENT_ONLY,
    "Agent.GetCheckpoint": AGENT_ONLY,
}


class PermissionDenied(Exception):
    """The caller lacks a permission; the message names it, the subject and the herd."""

    def __init__(self, principal: Principal, permission: Permission, herd: str) -> None:
        self.subject = principal.subject
        self.permission = permission
        self.herd = herd
        where = f"herd {herd!r}" if herd else "any herd"
        scope = (
            f" (token for herd {principal.herd!r}, role {principal.role!r})"
            if principal.source == "runink"
            else ""
        )
        super().__init__(f"{principal.subject} lacks {permission} in {where}{scope}")


def granted(principal: Principal, herd: Herd) -> frozenset[Rule]:
    """The rules ``principal`` holds in ``herd``."""
    if principal.source == "runink":
        if principal.herd != herd.name or principal.role is None:
            return frozenset()
        return frozenset(herd.roles.get(principal.role, ()))
    return herd.permissions(principal.subjects())


def allows(principal: Principal, herd: Herd, permission: Permission) -> bool:
    """Whether any rule granted to ``principal`` in ``herd`` covers ``permission``."""
    return any(r.allows(permission.verb, permission.resource) for r in granted(principal, herd))


def check(principal: Principal, herd: Herd, permission: Permission) -> None:
    """Raise PermissionDenied unless ``principal`` holds ``permission`` in ``herd``."""
    if not allows(principal, herd, permission):
        raise PermissionDenied(principal, permission, herd.name)


def readable(principal: Principal, herds: Iterable[Herd], permission: Permission) -> list[Herd]:
    """The herds in which ``principal`` holds ``permission``."""
    return [h for h in herds if allows(principal, h, permission)]
