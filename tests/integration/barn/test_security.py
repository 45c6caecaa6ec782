"""The Raft and client ports: nothing unauthenticated is ever unpickled or obeyed."""

from __future__ import annotations

import pickle
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import orjson
import pytest

from runink.barn.client import RemoteBarn
from runink.barn.crypto import LENGTH, master_key
from runink.barn.models import AuthenticationError, BarnError, InvalidRequestError
from runink.barn.wire import Channel
from tests.integration.barn.harness import SECRET, Cluster, free_ports


class _Marker:
    """Unpickling this creates a file: the canary of remote code execution."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


def _pysyncobj_frame(obj: object) -> bytes:
    data = zlib.compress(pickle.dumps(obj), 3)
    return struct.pack("i", len(data)) + data


def _send(address: tuple[str, int], payload: bytes) -> None:
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(payload)
        time.sleep(0.3)


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(port)


RAW_NODE = """
import sys, time
from pysyncobj import SyncObj, SyncObjConf
password = sys.argv[2] or None
obj = SyncObj("127.0.0.1:" + sys.argv[1], [], SyncObjConf(password=password))
time.sleep(60)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("password", ["", "cluster-password"])
def test_raw_pysyncobj_port(tmp_path: Path, password: str) -> None:
    """The unfixed behaviour: without a password, raw pysyncobj unpickles whatever
    reaches its port (the marker appears: remote code execution). With its
    ``password`` option, Fernet's HMAC is checked before pickle.loads, so the marker
    does not appear -- but frames are uncapped (a peer can make it buffer 2 GiB) and
    it binds 0.0.0.0 unless bindAddress is set; Barn uses its own framing instead."""
    (port,) = free_ports(1)
    marker = tmp_path / "pwned"
    proc = subprocess.Popen([sys.executable, "-c", RAW_NODE, str(port), password])
    try:
        _wait_port(port)
        _send(("127.0.0.1", port), _pysyncobj_frame(_Marker(str(marker))))
        deadline = time.monotonic() + 3
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists() == (not password)
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.timeout(90)
def test_barn_ports_never_unpickle_unauthenticated_bytes(cluster: Cluster, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _pysyncobj_frame(_Marker(str(marker)))
    hello_then_evil = LENGTH.pack(41) + b"RNKBARN1P" + b"\x00" * 32
    hello_then_evil += LENGTH.pack(len(evil)) + evil
    for member in cluster.members:
        for address in (member["raft"], member["client"]):
            host, port = address.rsplit(":", 1)
            for payload in (evil, hello_then_evil, b"\xff" * 64, LENGTH.pack(2**31) + b"x"):
                _send((host, int(port)), payload)
    time.sleep(0.5)
    assert not marker.exists()
    client = cluster.client()
    try:
        assert client.put("/after/attack", 1).revision >= 1
        assert client.get("/after/attack") is not None
    finally:
        client.close()
    for proc in cluster.procs.values():
        assert proc.poll() is None


@pytest.mark.timeout(90)
def test_member_without_the_secret_cannot_join_or_write(tmp_path: Path) -> None:
    """m2 runs with a different secret: m0 and m1 form the cluster without it, m2
    never learns a leader or any data, and a client with m2's secret is refused by m0."""
    c = Cluster(tmp_path)
    try:
        c.start("m0")
        c.start("m1")
        wrong = tmp_path / "wrong-secret"
        wrong.write_bytes(b"not-the-cluster-secret-at-all-0123456789")
        c.start("m2")
        c.kill("m2")
        cfg = (tmp_path / "m2.yaml").read_text().replace(str(tmp_path / "secret"), str(wrong))
        (tmp_path / "m2.yaml").write_text(cfg)
        c.procs["m2"] = subprocess.Popen(
            [sys.executable, "-m", "runink.barn", "--config", str(tmp_path / "m2.yaml")],
            stdout=open(tmp_path / "m2.log", "ab"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT,
        )
        c.wait_leader(among=["m0", "m1"])
        good = c.client(["m0", "m1"])
        good.put("/secret-test", "v")
        intruder = RemoteBarn([c.client_address("m2")], wrong.read_bytes(), timeout=1.0)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            status = intruder.status()
            assert status.leader is None and status.revision == 0
            time.sleep(0.2)
        with pytest.raises(BarnError):
            intruder.put("/intruder", 1)
        sneaky = RemoteBarn([c.client_address("m0")], wrong.read_bytes(), timeout=1.0)
        with pytest.raises(BarnError):
            sneaky.put("/intruder", 1)
        assert good.get("/intruder") is None
        assert good.get("/secret-test") is not None
    finally:
        c.close()


@pytest.mark.timeout(60)
def test_binds_only_the_configured_address(cluster: Cluster) -> None:
    for member in cluster.members:
        for address in (member["raft"], member["client"]):
            port = int(address.rsplit(":", 1)[1])
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.2", port), timeout=1).close()


@pytest.mark.timeout(60)
def test_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    c = Cluster(tmp_path, size=1)
    cfg = c.config_path.read_text().replace(str(tmp_path / "secret"), str(tmp_path / "empty"))
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "nosecret.yaml").write_text(cfg)
    out = subprocess.run(
        [sys.executable, "-m", "runink.barn", "--config", str(tmp_path / "nosecret.yaml")],
        capture_output=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode != 0
    assert b"secret" in out.stderr


@pytest.mark.timeout(90)
def test_malformed_and_oversized_requests_get_errors(cluster: Cluster) -> None:
    address = cluster.client_address("m0")
    host, port = address.rsplit(":", 1)
    master = master_key(SECRET)

    def channel() -> Channel:
        sock = socket.create_connection((host, int(port)), timeout=5)
        return Channel(sock, master, initiator=True, limit=64 * 1024 * 1024)

    ch = channel()
    bad_requests = [
        {"id": 1, "op": "explode"},
        {"id": 2, "op": "put"},
        {"id": 3, "op": "put", "key": 5, "value": 1},
        {"id": 4, "op": "range", "key": "/", "limit": -1},
        {"id": 5, "op": "txn", "compare": [{"key": "/a"}]},
        {"id": 6, "op": "lease_grant", "ttl": "long"},
        {"id": 7, "op": "lease_keepalive", "id2": 1},
        {"id": "x", "op": "status"},
        [1, 2, 3],
    ]
    for request in bad_requests:
        ch.send(request)  # type: ignore[arg-type]
        reply = ch.recv()
        assert reply["ok"] is False and reply["error"]["code"] in {
            InvalidRequestError.code,
            "lease_not_found",
        }, reply
    # not JSON at all (but properly sealed): error reply, connection stays usable
    sealed = ch._session.seal(b"{not json")
    ch.sock.sendall(LENGTH.pack(len(sealed)) + sealed)
    assert ch.recv()["ok"] is False
    ch.send({"id": 10, "op": "status"})
    assert ch.recv()["ok"] is True
    # oversized: error reply, then the member closes this connection
    big = orjson.dumps({"id": 11, "op": "put", "key": "/big", "value": "x" * (5 * 1024 * 1024)})
    sealed = ch._session.seal(big)
    ch.sock.sendall(LENGTH.pack(len(sealed)) + sealed[:1024])
    reply = ch.recv()
    assert reply["ok"] is False and "exceeds" in reply["error"]["message"]
    ch.close()
    # a wrong-secret client is disconnected without an answer
    with pytest.raises((AuthenticationError, ConnectionError, OSError)):
        sock = socket.create_connection((host, int(port)), timeout=5)
        bad = Channel(sock, master_key(b"w" * 32), initiator=True, limit=1 << 20)
        bad.send({"id": 1, "op": "status"})
        bad.recv()
    client = cluster.client(["m0"])
    try:
        assert client.put("/still/serving", True).revision >= 1
    finally:
        client.close()
    assert all(p.poll() is None for p in cluster.procs.values())
