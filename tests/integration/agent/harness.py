"""A real API server + Barn, a committed example repo, and an agent of node n1 on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent import Agent, AgentConfig
from runink.api import keys
from runink.api.records import AssignmentRecord, RunRecord, herd_to_dict
from runink.compiler.repo import Compiler
from runink.repo import load_repo
from tests.conftest import commit_all
from tests.integration.api.harness import ApiHarness

NODE = "n1"
STREAM_FEATURE = """@herd("ecommerce")
Feature: Event intake
  Events dropped into a directory, kept as they come.

  Scenario: Keep events
    @source("dir://inbox/*.jsonl")
    @step("Normalize", fields=["kind"], ops=["lower"])
    @sink("jsonl://out/events.jsonl")
    @stream

    Given events arrive
    Then they are kept
"""


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Fleet:
    """The server side as the scheduler would leave it, written straight into Barn."""

    def __init__(self, root: Path, repo: Path) -> None:
        self.root = root
        self.repo = repo
        self.api = ApiHarness(root / "api", seed_repo=False)
        self.agents: list[Agent] = []

    def commit(self, message: str = "change") -> str:
        sha = commit_all(self.repo, message)
        return f"main@sha1:{sha}"

    def assign(self, pipeline: str, revision: str) -> None:
        """Put the Plan of ``pipeline`` at ``revision`` and assign it to n1."""
        snapshot = load_repo(self.repo, revision.rsplit(":", 1)[1])
        result = Compiler().compile(snapshot)
        plan = next(p for p in result.plans if p.pipeline == pipeline)
        plan = replace(plan, revision=revision)
        barn = self.api.barn
        for herd in snapshot.herds:
            barn.put(keys.herd_key(herd.name), herd_to_dict(herd))
        barn.put(keys.pipeline_key(plan.herd, plan.pipeline), {**plan.to_dict(), "source": "t"})
        record = AssignmentRecord(
            NODE, plan.herd, plan.pipeline, revision, plan.hash, tuple(n.id for n in plan.nodes)
        )
        barn.put(keys.assignment_key(NODE, plan.herd, plan.pipeline), record.to_dict())

    def unassign(self, pipeline: str) -> None:
        herd = pipeline.split("/", 1)[0]
        self.api.barn.delete(keys.assignment_key(NODE, herd, pipeline))

    def runs(self, pipeline: str) -> list[RunRecord]:
        herd = pipeline.split("/", 1)[0]
        found = self.api.barn.range(keys.runs_prefix(herd, pipeline)).kvs
        return sorted((RunRecord.from_dict(kv.value) for kv in found), key=lambda r: r.started_at)

    def slices(self, pipeline: str) -> dict[str, tuple[str, int]]:
        herd = pipeline.split("/", 1)[0]
        kv = self.api.barn.get(keys.status_key(herd, pipeline))
        if kv is None:
            return {}
        report = (kv.value.get("nodes") or {}).get(NODE) or {}
        return {s["slice"]: (s["state"], s["restarts"]) for s in report.get("slices", [])}

    def agent(self, **overrides: Any) -> Agent:
        settings: dict[str, Any] = {
            "server": self.api.address,
            "pki_dir": self.api.pki,
            "node": NODE,
            "repo": str(self.repo),
            "data_dir": self.root / "agent",
            "resync_seconds": 1.0,
            "backoff_initial": 0.2,
            "backoff_max": 2.0,
            "seed_data": True,
        }
        config = AgentConfig(**{**settings, **overrides})
        agent = Agent(config).start()
        self.agents.append(agent)
        return agent

    def close(self) -> None:
        for agent in self.agents:
            agent.stop()
        self.api.close()
