"""mTLS: the server talks only to holders of a certificate from its CA, and an agent's
certificate decides which node it may speak for."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import grpc
import pytest

from runink.api.client import ApiClient, ApiError
from runink.api.pki import init_pki
from runink.api.protos import runink_pb2 as pb
from runink.api.protos import runink_pb2_grpc as pb_grpc
from tests.integration.api.harness import ApiHarness

PIPELINE = "finance/trades/validate-trades"


@pytest.mark.timeout(60)
def test_a_plaintext_client_gets_no_answer(api: ApiHarness) -> None:
    with grpc.insecure_channel(api.address) as channel:
        stub = pb_grpc.StatusStub(channel)  # type: ignore[no-untyped-call]
        token = api.token("finance", "admin")
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListPipelines(
                pb.ListPipelinesRequest(herd="finance"),
                timeout=5,
                metadata=(("authorization", f"Bearer {token}"),),
            )
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


@pytest.mark.timeout(60)
def test_a_client_certificate_from_another_ca_is_refused(api: ApiHarness, tmp_path: Path) -> None:
    other = tmp_path / "other-pki"
    init_pki(other, agents=("n1",))
    # Trusts our server, but presents a certificate our CA never signed (even one
    # claiming to be agent n1).
    for cert, key in (("client.crt", "client.key"), ("agent-n1.crt", "agent-n1.key")):
        client = ApiClient.from_files(
            api.address,
            api.pki / "ca.crt",
            other / cert,
            other / key,
            api.token("finance", "admin"),
            timeout=5,
        )
        try:
            with pytest.raises(ApiError) as refused:
                client.list_pipelines("finance")
            assert refused.value.code == "UNAVAILABLE"
            with pytest.raises(ApiError):
                client.register("n1")
        finally:
            client.close()


@pytest.mark.timeout(60)
def test_a_tls_client_without_a_certificate_cannot_complete_the_handshake(
    api: ApiHarness,
) -> None:
    context = ssl.create_default_context(cafile=str(api.pki / "ca.crt"))
    context.set_alpn_protocols(["h2"])
    host, port = api.address.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        # TLS 1.3 reports the missing certificate on the first read.
        tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        if not tls.recv(1):
            raise ConnectionError("closed")


@pytest.mark.timeout(60)
def test_a_client_that_does_not_trust_the_server_ca_does_not_connect(
    api: ApiHarness, tmp_path: Path
) -> None:
    other = tmp_path / "other-pki"
    init_pki(other)
    client = ApiClient.from_files(
        api.address,
        other / "ca.crt",
        api.pki / "client.crt",
        api.pki / "client.key",
        api.token("finance", "admin"),
        timeout=5,
    )
    try:
        with pytest.raises(ApiError) as refused:
            client.list_pipelines("finance")
        assert refused.value.code == "UNAVAILABLE"
    finally:
        client.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.register("n2"),
        lambda c: c.heartbeat("n2", 1),
        lambda c: next(iter(c.watch_assignments("n2"))),
        lambda c: c.report_slices(pb.SliceReport(node="n2", herd="finance", pipeline=PIPELINE)),
        lambda c: c.report_run("n2", pb.RunSummary(run_id="r1", herd="finance", pipeline=PIPELINE)),
        lambda c: c.get_secret("n2", "finance", "warehouse_password"),
    ],
    ids=["register", "heartbeat", "watch", "report-slices", "report-run", "get-secret"],
)
def test_an_agent_may_not_act_for_another_node(api: ApiHarness, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as refused:
        call(api.agent("n1"))
    assert refused.value.code == "PERMISSION_DENIED"
    assert "node:n1 may act only for node 'n1', not 'n2'" in str(refused.value)


@pytest.mark.timeout(60)
def test_a_person_with_an_admin_token_is_still_not_an_agent(api: ApiHarness) -> None:
    client = api.client(api.token("finance", "admin"))
    with pytest.raises(ApiError) as refused:
        client.get_secret("n1", "finance", "warehouse_password")
    assert refused.value.code == "PERMISSION_DENIED"
    assert "needs an agent certificate" in str(refused.value)
