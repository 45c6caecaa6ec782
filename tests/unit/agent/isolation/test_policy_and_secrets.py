"""Strict herds refuse a host that cannot isolate them; secrets come from file or env."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.isolation.cgroups import Limits
from agent.isolation.policy import HerdIsolation, HostSupport, IsolationError, grant
from agent.isolation.secrets import env_name, load_secrets

FULL = HostSupport(
    True, "hybrid", ("memory", "cpu", "pids"), ("pid", "mnt", "uts", "ipc", "net"), True
)
NO_PIDS = HostSupport(True, "v1", ("memory", "cpu"), ("pid", "mnt", "uts", "ipc", "net"), True)


def test_a_strict_herd_on_a_capable_host_gets_everything() -> None:
    given = grant(HerdIsolation("finance", Limits(pids=10)), FULL)
    assert given.namespaces == ("pid", "mnt", "uts", "ipc", "net") and given.skipped == ()


def test_a_strict_herd_is_refused_naming_what_is_missing() -> None:
    with pytest.raises(IsolationError) as caught:
        grant(HerdIsolation("finance"), NO_PIDS)
    assert "cgroup controller(s) pids (cgroup layout: v1)" in caught.value.message
    assert "--no-isolation" in caught.value.hint


def test_a_best_effort_herd_runs_and_says_what_it_skips() -> None:
    given = grant(HerdIsolation("finance", mode="best-effort"), NO_PIDS)
    assert given.controllers == ("memory", "cpu")
    assert given.skipped == ("cgroup controller(s) pids (cgroup layout: v1)",)


def test_secret_values_never_show_in_a_herds_repr() -> None:
    assert "hunter2" not in repr(HerdIsolation("finance", secrets={"pw": "hunter2"}))


def test_secrets_come_from_the_file_and_the_environment_wins(tmp_path: Path) -> None:
    file = tmp_path / "secrets.yaml"
    file.write_text("finance:\n  warehouse_password: from-file\n  pii_hash_key: key\n")
    environ = {env_name("finance", "warehouse_password"): "from-env"}
    assert env_name("finance", "warehouse_password") == "RUNINK_SECRET_FINANCE_WAREHOUSE_PASSWORD"
    declared = {"finance": ("warehouse_password", "pii_hash_key"), "shop": ("token",)}
    secrets = load_secrets(declared, file, environ)
    assert secrets.values == {"finance": {"warehouse_password": "from-env", "pii_hash_key": "key"}}
    assert secrets.missing == {"shop": ("token",)}


def test_a_secret_the_herd_does_not_declare_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    file = tmp_path / "secrets.json"
    file.write_text('{"finance": {"warehouse_pasword": "x"}}')
    with pytest.raises(IsolationError) as caught:
        load_secrets({"finance": ("warehouse_password",)}, file)
    assert "does not declare secret 'warehouse_pasword'" in caught.value.message
    assert caught.value.hint == "did you mean 'warehouse_password'?"


def test_a_secrets_file_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "secrets.yaml"
    file.write_text("finance:\n  a: [unclosed\n")
    with pytest.raises(IsolationError, match=r"secrets.yaml:\d+:\d+: not YAML or JSON"):
        load_secrets({"finance": ("a",)}, file)
