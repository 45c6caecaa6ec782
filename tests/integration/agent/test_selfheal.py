"""Self-heal: what is done by hand under the agent's herd cgroups is undone (real cgroups)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from agent import Agent
from agent.isolation import IsolatedProcess, Limits
from agent.isolation.cgroups import CgroupDriver
from agent.selfheal import Healed
from runink.api import keys
from runink.api.records import AssignmentRecord
from tests.integration.agent.harness import NODE, Fleet, wait_for

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, namespaces)"),
]

HERD = "ecommerce"
EVENTS = "ecommerce/events/keep-events"
ORDERS = "ecommerce/orders/clean-orders"


def _healed(kind: str) -> float:
    value = REGISTRY.get_sample_value("runink_selfheal_total", {"herd": HERD, "kind": kind})
    return value or 0.0


def _counted(agent: Agent, kind: str, at_least: float) -> None:
    """Wait until ``kind`` is counted (the sweep counts after it acts), then a sweep more."""
    wait_for(f"{kind} counted", lambda: _healed(kind) >= at_least)
    _sweeps_pass(agent, 1)


def _stream(fleet: Fleet) -> tuple[Agent, str]:
    """The stream pipeline running on a fresh agent; returns the agent and the revision."""
    (fleet.root / "agent" / HERD / "inbox").mkdir(parents=True, exist_ok=True)
    revision = fleet.commit()
    fleet.assign(EVENTS, revision)
    agent = fleet.agent()
    wait_for("the stream running", lambda: set(fleet.slices(EVENTS).values()) == {("running", 0)})
    return agent, revision


def _driver(agent: Agent) -> CgroupDriver:
    assert agent.selfheal is not None, "the agent isolates its slices"
    return agent.selfheal.driver


def _herd_cgroup(agent: Agent) -> str:
    assert agent.selfheal is not None
    return f"{agent.selfheal.spawner.token}/{HERD}"


def _slice(agent: Agent, step: str) -> IsolatedProcess:
    assert agent.selfheal is not None
    return next(p for p in agent.selfheal.spawner.running() if p.slice_id.endswith(f"/{step}"))


def _put(driver: CgroupDriver, rel: str, pid: int) -> None:
    """What an operator's `echo PID > cgroup.procs` does, in every hierarchy that takes it."""
    written = 0
    for hierarchy in driver.used:
        with (
            contextlib.suppress(OSError),
            open(Path(hierarchy.path, rel, "cgroup.procs"), "w") as f,
        ):
            f.write(str(pid))
            written += 1
    assert written, f"no hierarchy let pid {pid} into {rel}"


def _file(driver: CgroupDriver, controller: str, rel: str, v1: str, v2: str) -> Path:
    hierarchy = driver.by_controller[controller]
    return Path(hierarchy.path, rel, v2 if hierarchy.version == 2 else v1)


def _sweeps_pass(agent: Agent, n: int = 2) -> None:
    assert agent.selfheal is not None
    heal = agent.selfheal
    start = heal.sweeps
    wait_for(f"{n} self-heal sweeps", lambda: heal.sweeps >= start + n)


@contextlib.contextmanager
def _sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "300"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.mark.timeout(120)
def test_process_put_in_a_herd_cgroup_by_hand_is_killed_and_counted(fleet: Fleet) -> None:
    agent, _ = _stream(fleet)
    before = _healed("stranger")
    with _sleeper() as stranger:
        _put(_driver(agent), _herd_cgroup(agent), stranger.pid)
        wait_for("the stranger killed", lambda: stranger.poll() is not None)
        assert stranger.returncode == -signal.SIGKILL
    _counted(agent, "stranger", before + 1)
    assert _healed("stranger") == before + 1
    # The agent's own slices were left running: no failed run, no restart.
    _sweeps_pass(agent)
    assert set(fleet.slices(EVENTS).values()) == {("running", 0)}
    assert not [r for r in fleet.runs(EVENTS) if r.outcome == "failed"]
    assert agent.status()[EVENTS]["restarts"] == 0


@pytest.mark.timeout(120)
def test_cgroup_made_by_hand_under_a_herd_is_emptied_and_removed(fleet: Fleet) -> None:
    agent, _ = _stream(fleet)
    driver = _driver(agent)
    intruder = f"{_herd_cgroup(agent)}/by-hand"
    before = _healed("stranger")
    try:
        with _sleeper() as stranger:
            for hierarchy in driver.used:
                os.makedirs(Path(hierarchy.path, intruder))
            _put(driver, intruder, stranger.pid)
            wait_for("the stranger killed", lambda: stranger.poll() is not None)
        wait_for(
            "the hand-made cgroup removed",
            lambda: not any(Path(h.path, intruder).exists() for h in driver.used),
        )
        _counted(agent, "stranger", before + 1)
        assert _healed("stranger") == before + 1
        assert set(fleet.slices(EVENTS).values()) == {("running", 0)}
    finally:
        for hierarchy in driver.used:
            with contextlib.suppress(OSError):
                os.rmdir(Path(hierarchy.path, intruder))


@pytest.mark.timeout(120)
def test_limits_changed_by_hand_are_put_back_and_noted_in_the_run(fleet: Fleet) -> None:
    agent, first = _stream(fleet)
    driver = _driver(agent)
    normalize = _slice(agent, "normalize").cgroup
    herd = _herd_cgroup(agent)
    wanted = driver.created[normalize]
    assert wanted.memory_bytes is not None and wanted.pids is not None
    memory = _file(driver, "memory", normalize, "memory.limit_in_bytes", "memory.max")
    pids = _file(driver, "pids", normalize, "pids.max", "pids.max")
    herd_pids = _file(driver, "pids", herd, "pids.max", "pids.max")
    before = _healed("limits")
    memory.write_text(str(wanted.memory_bytes // 2))  # v1: never above memsw
    pids.write_text("7")
    herd_pids.write_text("100")
    wait_for(
        "the slice's limits put back",
        lambda: (
            memory.read_text().strip() == str(wanted.memory_bytes)
            and pids.read_text().strip() == str(wanted.pids)
        ),
    )
    wait_for("the herd's quota put back", lambda: herd_pids.read_text().strip() == "256")
    _counted(agent, "limits", before + 2)  # the slice and the herd, in one sweep or more
    assert set(fleet.slices(EVENTS).values()) == {("running", 0)}
    # The correction shows in the run's record when the run ends (a new revision ends it).
    fleet.assign(EVENTS, fleet.commit("next"))
    run = wait_for(
        "the run's record", lambda: [r for r in fleet.runs(EVENTS) if r.revision == first]
    )[0]
    assert any("self-heal: limits of cgroup" in p and "pids.max: 7" in p for p in run.problems)


@pytest.mark.timeout(120)
def test_slice_moved_out_of_its_cgroup_is_killed_and_restarted(fleet: Fleet) -> None:
    agent, _ = _stream(fleet)
    driver = _driver(agent)
    moved_before = _healed("moved")
    normalize = _slice(agent, "normalize")
    # The slice's own process (PID 1 of its namespace), moved to the root cgroup by hand.
    child = next(
        pid
        for pid in driver.procs(normalize.cgroup)
        if pid != normalize.pid and os.path.exists(f"/proc/{pid}")
    )
    _put(driver, "", child)
    wait_for("the moved slice killed", lambda: not os.path.exists(f"/proc/{child}"))
    wait_for("the stream restarted", lambda: set(fleet.slices(EVENTS).values()) == {("running", 1)})
    _counted(agent, "moved", moved_before + 1)
    assert _healed("moved") == moved_before + 1
    failed = [r for r in fleet.runs(EVENTS) if r.outcome == "failed"]
    assert len(failed) == 1
    assert any("moved out by hand" in p for p in failed[0].problems)
    # The restarted slice is confined again.
    again = _slice(agent, "normalize")
    assert again.pid != normalize.pid and driver.holds(again.cgroup, again.pid)


def _suspend(fleet: Fleet, revision: str, suspended: bool) -> None:
    barn = fleet.api.barn
    kv = barn.get(keys.assignment_key(NODE, HERD, EVENTS))
    assert kv is not None
    record = AssignmentRecord.from_dict(kv.value)
    barn.put(
        keys.assignment_key(NODE, HERD, EVENTS),
        {**record.to_dict(), "revision": revision, "suspended": suspended},
    )


@pytest.mark.timeout(120)
def test_suspended_herd_drift_is_left_until_the_suspend_is_lifted(fleet: Fleet) -> None:
    agent, revision = _stream(fleet)
    driver = _driver(agent)
    normalize = _slice(agent, "normalize").cgroup
    wanted: Limits = driver.created[normalize]
    pids = _file(driver, "pids", normalize, "pids.max", "pids.max")
    _suspend(fleet, revision, True)
    wait_for("the suspend seen", lambda: agent.workers[EVENTS].desired.suspended)
    with _sleeper() as stranger:
        pids.write_text("9")
        _put(driver, _herd_cgroup(agent), stranger.pid)
        _sweeps_pass(agent, 3)
        assert pids.read_text().strip() == "9"
        assert stranger.poll() is None
        _suspend(fleet, revision, False)
        wait_for("the stranger killed", lambda: stranger.poll() is not None)
        wait_for("the limit put back", lambda: pids.read_text().strip() == str(wanted.pids))


@pytest.mark.timeout(120)
def test_the_sweep_never_touches_the_agents_own_slices(fleet: Fleet) -> None:
    # Slices start and end under a sweep running as fast as it can: none is a stranger.
    (fleet.root / "agent" / HERD / "inbox").mkdir(parents=True, exist_ok=True)
    revision = fleet.commit()
    fleet.assign(EVENTS, revision)
    fleet.assign(ORDERS, revision)
    agent = fleet.agent()
    assert agent.selfheal is not None
    heal = agent.selfheal
    found: list[Healed] = []
    done = threading.Event()

    def sweep_hard() -> None:
        while not done.is_set():
            found.extend(heal.sweep())

    sweeper = threading.Thread(target=sweep_hard, daemon=True)
    sweeper.start()
    try:
        wait_for(
            "the batch run succeeded",
            lambda: [r for r in fleet.runs(ORDERS) if r.outcome == "succeeded"],
        )
        wait_for(
            "the stream running", lambda: set(fleet.slices(EVENTS).values()) == {("running", 0)}
        )
    finally:
        done.set()
        sweeper.join(30)
    assert found == []
    failed = [r for r in fleet.runs(ORDERS) + fleet.runs(EVENTS) if r.outcome == "failed"]
    assert not failed, [(r.problems, [(s.id, s.state, s.error) for s in r.steps]) for r in failed]
