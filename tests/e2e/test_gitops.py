"""The GitOps loop end to end: `runi up` on a bare origin, `git push` from a clone,
`runi status` to look. Real git, real processes, real isolation (CI runs as root)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.e2e.conftest import ORDERS, Up, healthy, push

pytestmark = pytest.mark.timeout(240)
NEW_FEATURE = """@herd("ecommerce")
Feature: Audit copy
  Scenario: Copy orders
    @source("jsonl://data/orders.jsonl")
    @sink("jsonl://out/orders_copy.jsonl")
"""


def test_a_pushed_feature_runs_and_a_removed_one_goes_away(world: tuple[Path, Up]) -> None:
    work, up = world
    (work / "features/audit_copy.dsl").write_text(NEW_FEATURE)
    sha = push(work, "a new feature")
    pipeline = "ecommerce/audit-copy/copy-orders"
    eventually(lambda: healthy(up, pipeline, sha), what="the new pipeline healthy")
    row = up.pipelines()[pipeline]
    assert row["last_run_outcome"] == "succeeded" and row["records_written"] > 0
    (work / "features/audit_copy.dsl").unlink()
    push(work, "drop it")
    eventually(lambda: pipeline not in up.pipelines(), what="its status gone")
    assert healthy(up, ORDERS)  # the others did not move


def test_a_bad_push_changes_nothing_and_says_where_then_a_fix_applies(
    world: tuple[Path, Up],
) -> None:
    work, up = world
    before = up.pipelines()
    feature = work / "features/orders.dsl"
    feature.write_text(feature.read_text().replace("@source(", "@sourse(", 1))
    push(work, "typo")
    eventually(
        lambda: any("ValidationFailed" in line for line in up.lines), what="the failure shown"
    )
    text = "".join(up.lines)
    assert "features/orders.dsl:" in text and "sourse" in text
    time.sleep(2)  # give a wrong apply every chance to happen
    after = up.pipelines()
    assert {k: v["revision"] for k, v in after.items()} == {
        k: v["revision"] for k, v in before.items()
    }
    feature.write_text(feature.read_text().replace("@sourse(", "@source(", 1))
    fixed = push(work, "fix")
    # The fix restores the Plan the pipeline runs, so nothing restarts: the source moves on.
    eventually(
        lambda: any(f"ApplySucceeded applied main@sha1:{fixed}" in line for line in up.lines),
        what="the fix applied",
    )
    assert healthy(up, ORDERS)


def test_suspending_a_herd_and_lifting_it(world: tuple[Path, Up]) -> None:
    work, up = world
    herd = work / "herds/ecommerce.yaml"
    text = herd.read_text()
    herd.write_text(text.replace("isolation: strict", "isolation: strict\n  suspend: true"))
    push(work, "suspend ecommerce")
    eventually(lambda: up.pipelines()[ORDERS]["health"] == "Suspended", what="suspended")
    herd.write_text(herd.read_text().replace("  suspend: true\n", ""))
    push(work, "resume ecommerce")
    eventually(lambda: healthy(up, ORDERS), what="healthy again")


def test_restarting_runi_up_runs_nothing_twice(tmp_path: Path, world: tuple[Path, Up]) -> None:
    _, up = world
    runs_before = up.status("ecommerce", ORDERS)["runs"]
    assert len(runs_before) == 1
    assert up.stop() == 0
    again = Up(tmp_path / "origin.git", up.state)
    try:
        eventually(lambda: healthy(again, ORDERS), what="healthy after the restart")
        time.sleep(3)  # an agent that would run it again has had time to
        runs_after = again.status("ecommerce", ORDERS)["runs"]
        assert [r["run_id"] for r in runs_after] == [r["run_id"] for r in runs_before]
    finally:
        again.stop()


def test_runi_up_serves_server_and_agent_metrics_that_promtool_accepts(
    world: tuple[Path, Up],
) -> None:
    import urllib.request

    _, up = world
    url = next(line.split()[2] for line in up.lines if line.startswith("runi: metrics"))
    token = (up.state / "metrics.token").read_text().strip()
    families = (
        *("runink_pipeline_info", "runink_slices", "runink_records_total"),
        *("runink_reconcile_total", "runink_node_ready", "runink_barn_has_leader"),
    )

    def scrape() -> str | None:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            text = str(reply.read().decode())
        samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines()}
        return text if all(f in samples for f in families) else None

    text = eventually(scrape, timeout=60, what="server and agent series on one scrape")
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


INBOX = """@herd("ecommerce")
Feature: Inbox
  Scenario: Customers inbox
    @source("dir://inbox/*.jsonl", contract="customer")
    @sink("duckdb://inbox.duckdb#silver.customers", mode="upsert")
    @stream
"""


def customer(i: int, name: str = "Ada Lovelace") -> str:
    return json.dumps(
        {"customer_id": f"C{i:05d}", "full_name": name, "email": f"c{i}@example.org",
         "country": "GB", "segment": "consumer", "signed_up_on": "2025-01-01"}
    ) + "\n"  # fmt: skip


def test_a_stream_killed_mid_way_resumes_from_its_checkpoint_without_loss_or_duplicates(
    tmp_path: Path, world: tuple[Path, Up]
) -> None:
    import duckdb

    from runink.api.client import ApiClient

    work, up = world
    (work / "features/inbox.dsl").write_text(INBOX)
    push(work, "a customers inbox")
    inbox = up.state / "agent" / "ecommerce" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "a.jsonl").write_text("".join(customer(i) for i in range(1, 11)))
    pki = up.state / "pki"

    def checkpoint(server: Up) -> dict[str, int]:
        # Read as the node's agent would (the API lets only an assigned node read it).
        client = ApiClient.from_files(
            server.api, pki / "ca.crt", pki / "agent-local.crt", pki / "agent-local.key"
        )
        try:
            return client.get_checkpoint("local", "ecommerce", "ecommerce/inbox/customers-inbox")
        except Exception:  # not assigned yet
            return {}
        finally:
            client.close()

    size_a = (inbox / "a.jsonl").stat().st_size
    eventually(lambda: checkpoint(up).get("inbox/a.jsonl") == size_a, what="a checkpoint")
    up.process.kill()  # kill -9: server, agent and the stream's slices die mid-stream
    up.process.wait(timeout=30)
    # While nothing runs: a new file, and a change to a customer already written.
    (inbox / "b.jsonl").write_text(
        customer(3, "Ada Byron") + "".join(customer(i) for i in range(11, 16))
    )
    size_b = (inbox / "b.jsonl").stat().st_size
    again = Up(tmp_path / "origin.git", up.state)
    try:
        eventually(
            lambda: checkpoint(again) == {"inbox/a.jsonl": size_a, "inbox/b.jsonl": size_b},
            what="the resumed stream's checkpoint",
        )
    finally:
        assert again.stop() == 0
    with duckdb.connect(str(up.state / "agent/ecommerce/inbox.duckdb"), read_only=True) as db:
        rows = db.execute(
            "select customer_id, full_name from silver.customers order by customer_id"
        ).fetchall()
    assert [r[0] for r in rows] == [f"C{i:05d}" for i in range(1, 16)]  # each exactly once
    assert dict(rows)["C00003"] == "Ada Byron"  # the upsert kept the newer record
