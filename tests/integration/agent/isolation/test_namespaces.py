"""Inside a slice: its own processes, hostname, /tmp, secrets and (no) network."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.isolation import HerdIsolation, IsolatedSpawner
from agent.isolation.spawner import runtime_paths
from tests.integration.agent.isolation.conftest import (
    ROOT_ONLY,
    SECRET_A,
    SECRET_B,
    finish,
    run_python,
    start,
)

pytestmark = [*ROOT_ONLY, pytest.mark.timeout(60)]

REPORT = textwrap.dedent(
    """
    import json, os, socket, subprocess, sys
    def read(path):
        try:
            return open(path).read()
        except OSError as exc:
            return f"error: {exc.strerror}"
    ps = subprocess.run(["ps", "-e", "-o", "pid=,comm="], capture_output=True, text=True)
    report = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "ps": ps.stdout.split("\\n"),
        "proc": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "tmp": sorted(os.listdir("/tmp")),
        "secrets": {n: read("/run/secrets/" + n) for n in os.listdir("/run/secrets")}
        if os.path.isdir("/run/secrets") else {},
        "env_secret": os.environ.get("RUNINK_SECRET_TOKEN"),
        "cgroup": read("/proc/self/cgroup"),
        "root_writable": os.access("/usr", os.W_OK),
        "no_new_privs": [l for l in read("/proc/self/status").splitlines() if "NoNewPrivs" in l],
    }
    os.write(int(sys.argv[1]), json.dumps(report).encode())
    """
)


def test_a_slice_sees_only_its_own_processes_and_has_its_own_hostname(
    spawner: IsolatedSpawner,
) -> None:
    result = run_python(spawner, "alpha", REPORT, slice_id="orders-normalize")
    assert result.code == 0
    report = json.loads(result.output)
    assert report["pid"] == 1
    assert report["hostname"] == "orders-normalize"
    # ps itself and the slice: nothing of the host.
    commands = [line.split()[1] for line in report["ps"] if line.strip()]
    assert sorted(commands) == ["ps", "python"] or sorted(commands) == ["ps", "python3"]
    assert report["proc"][0] == "1" and len(report["proc"]) <= 2
    assert report["no_new_privs"] == ["NoNewPrivs:\t1"]
    assert not report["root_writable"]


def test_a_slice_is_in_its_herd_cgroup_before_it_runs(spawner: IsolatedSpawner) -> None:
    result = run_python(spawner, "alpha", REPORT)
    lines = json.loads(result.output)["cgroup"].splitlines()
    memory = next(line for line in lines if ":memory:" in line or line.startswith("0::"))
    assert f"/{spawner.token}/alpha/" in memory


def test_herd_a_cannot_read_herd_b_secret_or_tmp(spawner: IsolatedSpawner) -> None:
    # Beta writes to its /tmp and stays alive while alpha looks around.
    holder = textwrap.dedent(
        """
        import os, sys, time
        open("/tmp/beta-was-here", "w").write("beta data")
        os.write(int(sys.argv[1]), b"ready")
        time.sleep(30)
        """
    )
    beta, beta_pipe = start(spawner, "beta", holder, slice_id="beta-holder")
    try:
        assert __import__("os").read(beta_pipe, 5) == b"ready"
        report = json.loads(run_python(spawner, "alpha", REPORT).output)
    finally:
        beta.kill()
        finish(beta, beta_pipe)
    # Empty but for where Runink itself is installed, when that is under /tmp (bound
    # read-only so the slice can run; a CI checkout lives there).
    under_tmp = [Path(p) for p in runtime_paths() if p.startswith("/tmp/")]
    runtime = {p.relative_to("/tmp").parts[0] for p in under_tmp}
    assert set(report["tmp"]) == runtime and "beta-was-here" not in report["tmp"]
    assert report["secrets"] == {"token": SECRET_A}
    assert SECRET_B not in json.dumps(report)


def test_secrets_can_be_delivered_as_environment() -> None:
    herds = {"alpha": HerdIsolation("alpha", secrets={"token": SECRET_A})}
    with IsolatedSpawner(herds, secret_delivery="env") as spawner:
        report = json.loads(run_python(spawner, "alpha", REPORT).output)
    assert report["env_secret"] == SECRET_A and report["secrets"] == {}


def test_a_port_listening_on_the_host_is_unreachable(spawner: IsolatedSpawner) -> None:
    with socket.create_server(("0.0.0.0", 0)) as server:
        port = server.getsockname()[1]
        code = textwrap.dedent(
            f"""
            import os, socket, sys
            results = []
            for host in ("127.0.0.1", "10.0.2.15", "{socket.gethostbyname(socket.gethostname())}"):
                try:
                    socket.create_connection((host, {port}), timeout=2).close()
                    results.append(host + " open")
                except OSError as exc:
                    results.append(host + " " + type(exc).__name__)
            os.write(int(sys.argv[1]), "\\n".join(results).encode())
            """
        )
        result = run_python(spawner, "alpha", code)
    assert result.code == 0
    assert "open" not in result.output, result.output


@pytest.fixture
def listening(outside: str) -> Iterator[str]:
    """``outside`` with a server listening on its addresses (LISTENER)."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", outside, sys.executable, "-c", LISTENER],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "listening"
        yield outside
    finally:
        server.kill()
        server.wait()


def test_an_egress_herd_reaches_only_its_allow_listed_destination(listening: str) -> None:
    herds = {"shop": HerdIsolation("shop", egress=(("10.20.0.5", 5432),))}
    with IsolatedSpawner(herds, egress_peer=listening) as spawner:
        result = run_python(spawner, "shop", PROBE)
    assert result.output.splitlines() == [
        "10.20.0.5:5432 open",
        "10.20.0.5:6000 blocked",
        "10.20.0.6:5432 blocked",
        "127.0.0.1:22 blocked",
    ]


def test_a_herd_without_network_has_only_loopback(spawner: IsolatedSpawner) -> None:
    code = textwrap.dedent(
        """
        import os, socket, sys
        names = [name for _, name in socket.if_nameindex()]
        os.write(int(sys.argv[1]), " ".join(names).encode())
        """
    )
    assert run_python(spawner, "beta", code).output == "lo"


def test_a_slice_that_cannot_start_fails_with_the_step_that_failed(
    spawner: IsolatedSpawner, tmp_path: Path
) -> None:
    from agent.isolation import IsolationError
    from runink.runtime.spawn import SliceLaunch

    with pytest.raises(IsolationError, match=r"entering .*missing"):
        spawner.spawn(SliceLaunch("s", "alpha", ("true",), (), str(tmp_path / "missing")))


LISTENER = textwrap.dedent(
    """
    import socket, sys, time
    servers = []
    for address, port in (("10.20.0.5", 5432), ("10.20.0.5", 6000), ("10.20.0.6", 5432)):
        s = socket.socket()
        s.bind((address, port))
        s.listen()
        servers.append(s)
    print("listening", flush=True)
    time.sleep(60)
    """
)

PROBE = textwrap.dedent(
    """
    import os, socket, sys
    lines = []
    for host, port in (("10.20.0.5", 5432), ("10.20.0.5", 6000), ("10.20.0.6", 5432),
                       ("127.0.0.1", 22)):
        try:
            socket.create_connection((host, port), timeout=2).close()
            lines.append(f"{host}:{port} open")
        except OSError:
            lines.append(f"{host}:{port} blocked")
    os.write(int(sys.argv[1]), "\\n".join(lines).encode())
    """
)


def test_a_changed_egress_allow_list_applies_at_the_herds_next_slice(listening: str) -> None:
    herds = {"shop": HerdIsolation("shop", egress=(("10.20.0.5", 5432),))}
    with IsolatedSpawner(herds, egress_peer=listening) as spawner:
        before = run_python(spawner, "shop", PROBE)
        # A commit moved the allow-list to another host: the agent hands over the herd.
        spawner.herds["shop"] = HerdIsolation("shop", egress=(("10.20.0.6", 5432),))
        after = run_python(spawner, "shop", PROBE)
        spawner.herds["shop"] = HerdIsolation("shop")  # and then took it away
        none = run_python(spawner, "shop", PROBE)
    assert before.output.splitlines()[:3:2] == ["10.20.0.5:5432 open", "10.20.0.6:5432 blocked"]
    assert after.output.splitlines()[:3:2] == ["10.20.0.5:5432 blocked", "10.20.0.6:5432 open"]
    assert none.output.splitlines()[:3:2] == ["10.20.0.5:5432 blocked", "10.20.0.6:5432 blocked"]
