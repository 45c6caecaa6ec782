"""``runi status`` as a person runs it: a real process against a seeded server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from runink.cli.status import COLUMNS
from tests.integration.api.harness import ApiHarness

RUNI = [sys.executable, "-m", "runink.cli.main"]
PIPELINE = "finance/trades/validate-trades"


def _env(api: ApiHarness, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNINK_")}
    env.update({"RUNINK_SERVER": api.address, "RUNINK_CA": str(api.pki / "ca.crt")})
    if token:
        env["RUNINK_TOKEN"] = token
    return env


def status(
    api: ApiHarness, *args: str, token: str | None = "viewer"
) -> subprocess.CompletedProcess[str]:
    real = api.token("finance", token) if token in ("viewer", "operator", "admin") else token
    return subprocess.run(
        [*RUNI, "status", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(api, real),
        check=False,
    )


@pytest.mark.timeout(60)
def test_table_lists_the_herds_pipelines_with_every_column(api: ApiHarness) -> None:
    result = status(api)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == list(COLUMNS)
    rows = {line.split()[1]: line for line in lines[1:]}
    # a finance token sees finance only
    assert set(rows) == {"trades/daily-exposure", "trades/validate-trades"}
    degraded = rows["trades/validate-trades"]
    for text in ("OutOfSync", "Degraded", "5/6", "succeeded", "298", "slice decode-trade"):
        assert text in degraded, degraded
    assert api.seeded["revision"][:7] in degraded
    assert "Healthy" in rows["trades/daily-exposure"]


@pytest.mark.timeout(60)
def test_wide_adds_desired_revision_run_id_trigger_and_read_count(api: ApiHarness) -> None:
    result = status(api, "finance", "-o", "wide")
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    assert {"DESIRED", "RUN-ID", "TRIGGER", "READ"} <= set(header)
    last = api.seeded["runs"][PIPELINE][-1]
    assert last in result.stdout and "schedule" in result.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_machine_formats_carry_the_same_rows(api: ApiHarness, fmt: str) -> None:
    result = status(api, "-o", fmt)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
    by_name = {r["pipeline"]: r for r in rows}
    assert set(by_name) == {"finance/trades/daily-exposure", PIPELINE}
    row = by_name[PIPELINE]
    assert row["health"] == "Degraded" and row["sync"] == "OutOfSync"
    assert row["records_written"] == 298 and row["records_dlq"] == 2
    assert row["slices_ready"] == 5 and row["slices_total"] == 6
    assert row["last_run_id"] == api.seeded["runs"][PIPELINE][-1]


@pytest.mark.timeout(60)
def test_one_pipeline_shows_conditions_slices_and_recent_runs(api: ApiHarness) -> None:
    result = status(api, PIPELINE)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "CONDITION" in out and "SliceCrashLoop" in out
    assert "decode-trade" in out and "crashloop" in out
    assert "Recent runs" in out
    for run_id in api.seeded["runs"][PIPELINE]:
        assert run_id in out
    as_json = json.loads(status(api, PIPELINE, "-o", "json").stdout)
    assert [c["type"] for c in as_json["conditions"]] == ["Synced", "Healthy"]
    assert as_json["runs"][0]["run_id"] == api.seeded["runs"][PIPELINE][-1]  # newest first
    as_yaml = yaml.safe_load(status(api, PIPELINE, "-o", "yaml").stdout)
    assert as_yaml["pipeline"] == PIPELINE


@pytest.mark.timeout(60)
def test_one_run_shows_each_step_with_its_counts(api: ApiHarness) -> None:
    run_id = api.seeded["runs"][PIPELINE][1]  # the failed one
    result = status(api, "--herd", "finance", "--runid", run_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert run_id in out and "failed" in out
    for step in ("source", "decode-trade", "validate-contract", "mask-pii"):
        assert step in out
    assert "IN" in out and "DLQ" in out and "decode failed: bad JSON at line 3" in out
    data = json.loads(status(api, "--herd", "finance", "--runid", run_id, "-o", "json").stdout)
    assert data["outcome"] == "failed" and data["totals"]["read"] == 200
    assert {s["id"] for s in data["steps"]} >= {"source", "decode-trade"}


@pytest.mark.timeout(60)
def test_status_never_writes(api: ApiHarness) -> None:
    before = api.barn.range("/").revision
    for args in ([], ["-o", "wide"], [PIPELINE], ["--herd", "finance", "--runid", "x"]):
        status(api, *args, token="admin")
    assert api.barn.range("/").revision == before


@pytest.mark.timeout(60)
def test_unreachable_server_is_one_clear_line(api: ApiHarness) -> None:
    env = _env(api, api.token("finance", "viewer"))
    env["RUNINK_SERVER"] = "127.0.0.1:9"
    result = subprocess.run(
        [*RUNI, "status"], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 2
    assert result.stderr.startswith("runi: cannot reach the Runink server at 127.0.0.1:9")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.timeout(60)
def test_refused_or_missing_tokens_are_one_clear_line(api: ApiHarness) -> None:
    expired = api.token("finance", "viewer", ttl=60, now=time.time() - 3600)
    refused = status(api, token=expired)
    assert refused.returncode == 2
    assert refused.stderr.strip() == "runi: the server refused the token: the token has expired"
    missing = status(api, token=None)
    assert missing.returncode == 2 and "no token" in missing.stderr
    other = status(api, "ecommerce", token="viewer")
    assert other.returncode == 2
    assert "lacks read:pipelines in herd 'ecommerce'" in other.stderr
    unknown = status(api, "finance/trades/nope")
    assert unknown.returncode == 2 and "has no pipeline" in unknown.stderr


@pytest.mark.timeout(60)
def test_flags_override_environment(api: ApiHarness) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNINK_")}
    result = subprocess.run(
        [
            *RUNI,
            "status",
            "--server",
            api.address,
            "--ca",
            str(api.pki / "ca.crt"),
            "--token",
            api.token("finance", "viewer"),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2


@pytest.mark.timeout(60)
def test_watch_refreshes_until_interrupted(api: ApiHarness) -> None:
    proc = subprocess.Popen(
        [*RUNI, "status", "--watch", "--interval", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(api, api.token("finance", "viewer")),
    )
    try:
        assert proc.stdout is not None
        headers = 0
        while headers < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            headers += line.startswith("HERD")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
