"""A real API server on 127.0.0.1 over a real one-member Barn, seeded from example-repo."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from runink.api import keys
from runink.api.client import ApiClient
from runink.api.pki import CA_CERT, CLIENT_CERT, CLIENT_KEY, TOKEN_KEY, init_pki
from runink.api.records import (
    AssignmentRecord,
    Condition,
    NodeRecord,
    NodeReport,
    RunRecord,
    SliceState,
    SourceRecord,
    StatusRecord,
    StepRecord,
    herd_to_dict,
)
from runink.api.secrets import load_kek
from runink.api.server import ApiServer, ApiSettings, TlsFiles
from runink.api.tokens import TokenIssuer, TokenVerifier, load_private_key
from runink.barn import Barn, BarnClient, BarnConfig, MemberConfig
from runink.compiler.plan import Plan
from runink.compiler.repo import Compiler
from runink.repo import load_repo
from tests.conftest import EXAMPLE_REPO, commit_all
from tests.integration.barn.harness import SECRET, free_ports

AGENTS = ("n1", "n2")
#: Test subjects: a minted token records one of these.
SUBJECT = "alice@example.com"


def example_repo_with_admins(root: Path) -> Path:
    """A committed copy of example-repo whose finance herd also has an admin role."""
    repo = root / "repo"
    shutil.copytree(EXAMPLE_REPO, repo, symlinks=True)
    herd = repo / "herds/finance.yaml"
    herd.write_text(
        herd.read_text().replace(
            '    auditor: ["read:pipelines", "read:runs", "read:lineage"]\n',
            '    auditor: ["read:pipelines", "read:runs", "read:lineage"]\n    admin: ["*:*"]\n',
        )
    )
    commit_all(repo, "example")
    return repo


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _run(
    plan: Plan, run_id: str, started: datetime, outcome: str, read: int, dlq: int
) -> RunRecord:
    steps = []
    for node in plan.nodes:
        counts = {"in": read, "out": read - dlq, "dlq": dlq if node.kind == "step" else 0}
        steps.append(
            StepRecord(
                id=node.id,
                kind=node.kind,
                name=node.name,
                state="succeeded" if outcome == "succeeded" else "failed",
                counts=counts,
                exit_code=0 if outcome == "succeeded" else 1,
                error="" if outcome == "succeeded" else "decode failed: bad JSON at line 3",
            )
        )
    return RunRecord(
        run_id=run_id,
        herd=plan.herd,
        pipeline=plan.pipeline,
        outcome=outcome,
        started_at=_iso(started),
        ended_at=_iso(started + timedelta(seconds=4)),
        revision=plan.revision or "",
        node="n1",
        totals={"read": read, "written": read - dlq, "dlq": dlq, "filtered": 0},
        steps=tuple(steps),
    )


def seed(barn: BarnClient, repo: Path) -> dict[str, Any]:
    """Write what the controllers and agents would: herds, plans, status, runs, nodes."""
    snapshot = load_repo(repo, "HEAD")
    result = Compiler().compile(snapshot)
    assert result.ok, result.findings
    revision = snapshot.revision or ""
    now = datetime.now(UTC)
    for herd in snapshot.herds:
        barn.put(keys.herd_key(herd.name), herd_to_dict(herd))
    barn.put(
        keys.source_key("example"),
        SourceRecord(
            repo="example",
            fetched_revision=revision,
            applied_revision=revision,
            conditions=(Condition("Ready", "True", "Applied", "applied", _iso(now), revision),),
            updated_at=_iso(now),
        ).to_dict(),
    )
    plans = {p.pipeline: replace(p, revision=revision) for p in result.plans}
    runs: dict[str, list[str]] = {}
    for i, plan in enumerate(plans.values()):
        barn.put(keys.pipeline_key(plan.herd, plan.pipeline), plan.to_dict())
        slices = tuple(n.id for n in plan.nodes)
        healthy = i % 2 == 0
        barn.put(
            keys.assignment_key("n1", plan.herd, plan.pipeline),
            AssignmentRecord(
                "n1", plan.herd, plan.pipeline, revision, plan.hash, slices, _iso(now)
            ).to_dict(),
        )
        barn.put(
            keys.status_key(plan.herd, plan.pipeline),
            StatusRecord(
                herd=plan.herd,
                pipeline=plan.pipeline,
                revision=revision,
                sync="Synced" if healthy else "OutOfSync",
                health="Healthy" if healthy else "Degraded",
                message="" if healthy else "slice decode-trade restarted 4 times",
                conditions=(
                    Condition("Synced", "True" if healthy else "False", "Applied", "", _iso(now)),
                    Condition(
                        "Healthy",
                        "True" if healthy else "False",
                        "SlicesRunning" if healthy else "SliceCrashLoop",
                        "" if healthy else "slice decode-trade restarted 4 times",
                        _iso(now),
                        revision,
                    ),
                ),
                nodes={
                    "n1": NodeReport(
                        "n1",
                        revision,
                        tuple(
                            SliceState(s, "crashloop", "n1", 4)
                            if not healthy and j == 1  # the first step, e.g. decode-trade
                            else SliceState(s, "running", "n1")
                            for j, s in enumerate(slices)
                        ),
                        _iso(now),
                    )
                },
                updated_at=_iso(now - timedelta(minutes=3)),
            ).to_dict(),
        )
        ids = []
        for k, outcome in enumerate(("succeeded", "failed", "succeeded")):
            run_id = f"0190{i:02d}{k:02d}-0000-7000-8000-00000000000{k}"
            started = now - timedelta(hours=3 - k)
            run = _run(plan, run_id, started, outcome, 100 * (k + 1), k)
            barn.put(keys.run_key(plan.herd, plan.pipeline, run_id), run.to_dict())
            ids.append(run_id)
        runs[plan.pipeline] = ids
    for node in AGENTS:
        lease = barn.lease_grant(60)
        barn.put(
            keys.node_key(node),
            NodeRecord(node, {"disk": "ssd"}, 4000, 8 << 30, "0.1.0", _iso(now)).to_dict(),
            lease=lease.id,
        )
    return {"revision": revision, "plans": plans, "runs": runs}


class ApiHarness:
    """PKI + Barn member + API server, all real; ``close()`` stops them."""

    def __init__(self, root: Path, seed_repo: bool = True) -> None:
        self.root = root
        self.pki = root / "pki"
        init_pki(self.pki, agents=AGENTS, clients=("default",))
        raft, client = free_ports(2)
        self.barn_dir = root / "barn"
        self.barn = Barn(
            BarnConfig(
                name="m0",
                members=(MemberConfig("m0", f"127.0.0.1:{raft}", f"127.0.0.1:{client}"),),
                data_dir=self.barn_dir,
                secret=SECRET,
            )
        )
        self.server: ApiServer | None = None
        self._clients: list[ApiClient] = []
        try:
            self.barn.wait_for_leader(30)
            self.seeded = seed(self.barn, example_repo_with_admins(root)) if seed_repo else {}
            key = load_private_key(self.pki / TOKEN_KEY)
            self.issuer = TokenIssuer(key)
            self.kek = load_kek(self.pki / "secrets.kek")
            settings = ApiSettings(
                address="127.0.0.1:0",
                tls=TlsFiles(
                    ca=(self.pki / CA_CERT).read_bytes(),
                    cert=(self.pki / "server.crt").read_bytes(),
                    key=(self.pki / "server.key").read_bytes(),
                ),
                verifier=TokenVerifier(key.public_key()),
                kek=self.kek,
            )
            self.server = ApiServer(self.barn, settings).start()
        except BaseException:
            self.close()
            raise

    @property
    def address(self) -> str:
        assert self.server is not None
        return self.server.address

    def token(self, herd: str, role: str, ttl: int = 3600, **kwargs: Any) -> str:
        return self.issuer.mint(herd, role, ttl, kwargs.pop("subject", SUBJECT), **kwargs)

    def client(self, token: str | None = None) -> ApiClient:
        c = ApiClient.from_files(
            self.address,
            self.pki / CA_CERT,
            self.pki / CLIENT_CERT,
            self.pki / CLIENT_KEY,
            token,
            timeout=10,
        )
        self._clients.append(c)
        return c

    def agent(self, node: str) -> ApiClient:
        c = ApiClient.from_files(
            self.address,
            self.pki / CA_CERT,
            self.pki / f"agent-{node}.crt",
            self.pki / f"agent-{node}.key",
            timeout=10,
        )
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()
        if self.server is not None:
            self.server.stop(0.5)
        self.barn.close()
