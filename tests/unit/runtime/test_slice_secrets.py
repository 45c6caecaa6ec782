"""A user step's ctx.secrets: what the slice received, from files or the environment."""

from __future__ import annotations

from pathlib import Path

from runink.runtime.steps import slice_secrets


def test_secrets_come_from_the_slice_secrets_dir_by_their_declared_names(tmp_path: Path) -> None:
    (tmp_path / "warehouse_password").write_text("s3cr3t")
    (tmp_path / "apiKey").write_text("k-1\n")
    found = slice_secrets({"RUNINK_SECRETS_DIR": str(tmp_path)})
    assert found == {"warehouse_password": "s3cr3t", "apiKey": "k-1\n"}


def test_secrets_delivered_as_environment_variables_are_found_lower_cased() -> None:
    found = slice_secrets({"RUNINK_SECRET_ORDERS_TOKEN": "t0k", "PATH": "/usr/bin"})
    assert found == {"orders_token": "t0k"}


def test_a_slice_given_no_secrets_sees_none(tmp_path: Path) -> None:
    assert slice_secrets({"RUNINK_SECRETS_DIR": str(tmp_path / "absent")}) == {}
