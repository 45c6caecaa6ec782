"""Every RPC x every kind of caller: who is let in, who is refused, and with which code."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from runink.api.client import ApiClient, ApiError
from runink.api.protos import runink_pb2 as pb
from runink.api.rbac import AGENT_ONLY, RPC_PERMISSIONS, Permission
from runink.api.server import ApiServer
from runink.api.tokens import TokenIssuer
from tests.integration.api.harness import ApiHarness

PIPELINE = "finance/trades/validate-trades"
CALLERS = (
    "no token",
    "expired",
    "forged signature",
    "wrong audience",
    "other herd's token",
    "viewer",
    "operator",
    "admin",
)
#: The rules the finance herd's roles grant (example-repo plus an admin role).
GRANTS = {
    "viewer": {"read:pipelines", "read:runs"},
    "operator": {"read:pipelines", "read:runs", "run:pipelines", "read:secrets"},
    "admin": {"*"},
}


def _first_run_id(api: ApiHarness) -> str:
    return str(api.seeded["runs"][PIPELINE][0])


CALLS: dict[str, Callable[[ApiClient, ApiHarness], Any]] = {
    "Status.GetSource": lambda c, a: c.get_source("finance"),
    "Status.ListHerds": lambda c, a: [h.name for h in c.list_herds()],
    "Status.GetHerd": lambda c, a: c.get_herd("finance"),
    "Status.ListPipelines": lambda c, a: c.list_pipelines("finance"),
    "Status.GetPipeline": lambda c, a: c.get_pipeline("finance", PIPELINE),
    "Status.ListRuns": lambda c, a: c.list_runs("finance", PIPELINE),
    "Status.GetRun": lambda c, a: c.get_run("finance", _first_run_id(a)),
    "Status.ListNodes": lambda c, a: c.list_nodes("finance"),
    "Secrets.SetSecret": lambda c, a: c.set_secret("finance", "pii_hash_key", b"matrix-value"),
    "Secrets.ListSecrets": lambda c, a: c.list_secrets("finance"),
    "Agent.Register": lambda c, a: c.register("n1"),
    "Agent.Heartbeat": lambda c, a: c.heartbeat("n1", 1),
    "Agent.WatchAssignments": lambda c, a: next(iter(c.watch_assignments("n1"))),
    "Agent.ReportSlices": lambda c, a: c.report_slices(
        pb.SliceReport(node="n1", herd="finance", pipeline=PIPELINE)
    ),
    "Agent.ReportRun": lambda c, a: c.report_run(
        "n1", pb.RunSummary(run_id="r-matrix", herd="finance", pipeline=PIPELINE)
    ),
    "Agent.GetSecret": lambda c, a: c.get_secret("n1", "finance", "warehouse_password"),
    "Agent.ListPipelineRuns": lambda c, a: c.list_pipeline_runs("n1", "finance", PIPELINE),
    "Agent.SaveCheckpoint": lambda c, a: c.save_checkpoint("n1", "finance", PIPELINE, {"f": 1}),
    "Agent.GetCheckpoint": lambda c, a: c.get_checkpoint("n1", "finance", PIPELINE),
}


def expected(rpc: str, caller: str) -> str:
    """The gRPC code a caller should get (OK when allowed)."""
    need = RPC_PERMISSIONS[rpc]
    if need == AGENT_ONLY:
        return "PERMISSION_DENIED"  # a person's client certificate is not a node's
    if caller in ("no token", "expired", "forged signature", "wrong audience"):
        return "UNAUTHENTICATED"
    if caller == "other herd's token":
        # Listing herds is allowed; it shows only the token's own herd (checked below).
        return "OK" if rpc == "Status.ListHerds" else "PERMISSION_DENIED"
    assert isinstance(need, Permission)
    grants = GRANTS[caller]
    return "OK" if "*" in grants or str(need) in grants else "PERMISSION_DENIED"


def _tokens(api: ApiHarness) -> dict[str, str | None]:
    forger = TokenIssuer(ec.generate_private_key(ec.SECP256R1()))
    elsewhere = TokenIssuer(api.issuer._key, audience="another-service")
    return {
        "no token": None,
        "expired": api.token("finance", "admin", ttl=600, now=time.time() - 7200),
        "forged signature": forger.mint("finance", "admin", 3600, "mallory@example.com"),
        "wrong audience": elsewhere.mint("finance", "admin", 3600, "alice@example.com"),
        "other herd's token": api.token("ecommerce", "admin", subject="dave@example.com"),
        "viewer": api.token("finance", "viewer", subject="bob@example.com"),
        "operator": api.token("finance", "operator"),
        "admin": api.token("finance", "admin", subject="root@example.com"),
    }


@pytest.fixture(scope="module")
def clients(api: ApiHarness) -> dict[str, ApiClient]:
    return {caller: api.client(token) for caller, token in _tokens(api).items()}


def test_the_matrix_covers_every_rpc_the_server_serves() -> None:
    served = {
        f"{service.name}.{method.name}"
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert served == set(RPC_PERMISSIONS) == set(CALLS)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("rpc", list(CALLS))
def test_authorization_matrix(
    api: ApiHarness, clients: dict[str, ApiClient], rpc: str, caller: str
) -> None:
    want = expected(rpc, caller)
    try:
        reply = CALLS[rpc](clients[caller], api)
        got = "OK"
    except ApiError as exc:
        got, message = exc.code, str(exc)
    assert got == want, f"{rpc} as {caller}: got {got}, expected {want}"
    if got == "PERMISSION_DENIED" and RPC_PERMISSIONS[rpc] != AGENT_ONLY:
        assert str(RPC_PERMISSIONS[rpc]) in message  # the denial names what is missing
    if rpc == "Status.ListHerds" and got == "OK":
        assert reply == (["ecommerce"] if caller == "other herd's token" else ["finance"])


@pytest.mark.timeout(60)
def test_denials_are_logged_with_the_subject_and_the_missing_permission(
    api: ApiHarness, clients: dict[str, ApiClient], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="runink.api.audit"):
        with pytest.raises(ApiError):
            clients["viewer"].set_secret("finance", "pii_hash_key", b"nope")
        with pytest.raises(ApiError):
            clients["expired"].list_pipelines()
    lines = [r.getMessage() for r in caplog.records if r.name == "runink.api.audit"]
    assert any(
        "rpc=Secrets.SetSecret" in line
        and "subject=bob@example.com" in line
        and "missing=write:secrets" in line
        for line in lines
    ), lines
    assert any("unauthenticated" in line and "expired" in line for line in lines), lines


@pytest.mark.timeout(60)
def test_a_herd_that_does_not_exist_is_refused_like_one_the_token_cannot_read(
    clients: dict[str, ApiClient],
) -> None:
    with pytest.raises(ApiError) as missing:
        clients["admin"].list_pipelines("no-such-herd")
    with pytest.raises(ApiError) as other:
        clients["admin"].list_pipelines("ecommerce")
    assert missing.value.code == other.value.code == "PERMISSION_DENIED"


@pytest.mark.timeout(60)
def test_a_token_for_a_role_the_herd_does_not_define_grants_nothing(api: ApiHarness) -> None:
    client = api.client(api.token("finance", "superuser"))
    with pytest.raises(ApiError) as denied:
        client.list_pipelines("finance")
    assert denied.value.code == "PERMISSION_DENIED"
    assert "role 'superuser'" in str(denied.value)


class RecordingStore:
    """The real Barn, with a note of every key each call reads or writes."""

    def __init__(self, barn: Any) -> None:
        self.barn = barn
        self.reads: list[str] = []
        self.writes: list[str] = []

    def get(self, key: str, **kwargs: Any) -> Any:
        self.reads.append(key)
        return self.barn.get(key, **kwargs)

    def range(self, prefix: str, **kwargs: Any) -> Any:
        self.reads.append(prefix)
        return self.barn.range(prefix, **kwargs)

    def put(self, key: str, value: Any, **kwargs: Any) -> Any:
        self.writes.append(key)
        return self.barn.put(key, value, **kwargs)

    def txn(self, compares: Any, then_ops: Any, else_ops: Any = ()) -> Any:
        self.writes.extend(op.key for op in then_ops)
        return self.barn.txn(compares, then_ops, else_ops)

    def lease_grant(self, ttl: int) -> Any:
        self.writes.append(f"lease:{ttl}")
        return self.barn.lease_grant(ttl)

    def lease_keepalive(self, lease_id: int) -> Any:
        self.writes.append(f"lease:{lease_id}")
        return self.barn.lease_keepalive(lease_id)

    def watch(self, prefix: str, from_revision: int = 0, **kwargs: Any) -> Any:
        self.reads.append(prefix)
        return self.barn.watch(prefix, from_revision, **kwargs)


@pytest.mark.timeout(60)
def test_refused_calls_touch_nothing_in_barn_but_the_herds_rules(api: ApiHarness) -> None:
    store = RecordingStore(api.barn)
    assert api.server is not None
    server = ApiServer(store, api.server.settings).start()
    try:
        viewer = ApiClient.from_files(
            server.address,
            api.pki / "ca.crt",
            api.pki / "client.crt",
            api.pki / "client.key",
            api.token("finance", "viewer"),
        )
        anonymous = ApiClient.from_files(
            server.address, api.pki / "ca.crt", api.pki / "client.crt", api.pki / "client.key"
        )
        try:
            for call in (
                lambda: viewer.set_secret("finance", "pii_hash_key", b"v"),
                lambda: viewer.list_secrets("finance"),
                lambda: viewer.get_herd("finance"),
                lambda: viewer.list_nodes("finance"),
                lambda: viewer.list_pipelines("ecommerce"),
            ):
                with pytest.raises(ApiError):
                    call()
            assert set(store.reads) <= {"/herds/finance", "/herds/ecommerce"} and not store.writes
            for call in (
                lambda: anonymous.list_pipelines("finance"),
                lambda: anonymous.register("n1"),
                lambda: anonymous.get_secret("n1", "finance", "warehouse_password"),
            ):
                with pytest.raises(ApiError):
                    call()
            assert set(store.reads) <= {"/herds/finance", "/herds/ecommerce"} and not store.writes
        finally:
            viewer.close()
            anonymous.close()
    finally:
        server.stop(0.5)
