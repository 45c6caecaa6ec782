"""Nothing is left behind: not after 200 runs, not after the supervisor is SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from agent.isolation import HerdIsolation, IsolatedSpawner, Limits, detect
from agent.isolation.netns import names as netns_names
from tests.integration.agent.isolation.conftest import ROOT_ONLY, run_python

pytestmark = [*ROOT_ONLY, pytest.mark.timeout(150)]


def leftovers(prefix: str) -> dict[str, object]:
    driver = detect()
    return {
        "cgroups": sorted(n for n in driver.roots() if n.startswith(prefix)),
        "netns": netns_names(prefix),
        "mounts": [m for m in Path("/proc/self/mountinfo").read_text().split("\n") if prefix in m],
    }


def test_200_runs_in_a_row_leave_no_cgroup_netns_mount_or_process() -> None:
    mounts_before = Path("/proc/self/mountinfo").read_text().count("\n")
    herds = {"alpha": HerdIsolation("alpha", Limits(memory_bytes=64 << 20, pids=16))}
    with IsolatedSpawner(herds) as spawner:
        prefix = spawner.token
        for i in range(200):
            result = run_python(spawner, "alpha", "pass", slice_id=f"run-{i}")
            assert result.code == 0
            spawner.cleanup()  # what the executor does at the end of every run
            assert leftovers(prefix) == {"cgroups": [], "netns": [], "mounts": []}
        server = psutil.Process(spawner._server.pid)
        assert server.children(recursive=True) == []
    assert Path("/proc/self/mountinfo").read_text().count("\n") == mounts_before
    assert not any(p.status() != psutil.STATUS_ZOMBIE for p in psutil.Process().children())


SUPERVISOR = textwrap.dedent(
    """
    import os, sys, time
    from agent.isolation import HerdIsolation, IsolatedSpawner
    from runink.runtime.spawn import SliceLaunch
    spawner = IsolatedSpawner({"alpha": HerdIsolation("alpha")})
    process = spawner.spawn(SliceLaunch("sleeper", "alpha", ("sleep", "60"), (), "/"))
    print(spawner.token, spawner._server.pid, process.pid, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("forkserver_too", [False, True], ids=["supervisor", "everything"])
def test_a_killed_supervisor_leaves_nothing_once_cleaned_up(forkserver_too: bool) -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR], stdout=subprocess.PIPE, text=True
    )
    try:
        assert supervisor.stdout is not None
        token, server_pid, slice_pid = supervisor.stdout.readline().split()
        assert leftovers(token)["cgroups"] == [token]
        if forkserver_too:  # the worst case: nobody is left to clean up
            os.kill(int(server_pid), signal.SIGKILL)
        supervisor.kill()
        supervisor.wait()
        if forkserver_too:
            assert leftovers(token)["cgroups"] == [token]  # really left behind
            # A later start removes a dead owner's leftovers, processes included.
            with IsolatedSpawner() as later:
                assert f"cgroup {token}" in later.removed_leftovers
        deadline = time.monotonic() + 10
        while leftovers(token)["cgroups"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the forkserver noticed its supervisor died
        assert leftovers(token) == {"cgroups": [], "netns": [], "mounts": []}
        assert not psutil.pid_exists(int(slice_pid)) or (
            psutil.Process(int(slice_pid)).status() == psutil.STATUS_ZOMBIE
        )
    finally:
        supervisor.kill()
        supervisor.wait()
