"""Sealing: AES-256-GCM envelopes that open only with the right key, herd, name, version."""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path

import orjson
import pytest

from runink.api.records import SecretRecord
from runink.api.secrets import KEK_ENV, Kek, SecretError, load_kek, seal, unseal

KEK = Kek.generate()
VALUE = b"correct horse battery staple"


def test_a_sealed_value_opens_with_its_key_and_holds_no_plaintext() -> None:
    record = seal(KEK, "finance", "warehouse_password", 1, VALUE, updated_by="dave")
    stored = orjson.dumps(record.to_dict())
    assert VALUE not in stored and base64.b64encode(VALUE) not in stored
    assert unseal(KEK, SecretRecord.from_dict(orjson.loads(stored))) == VALUE
    again = seal(KEK, "finance", "warehouse_password", 1, VALUE)
    assert again.ciphertext != record.ciphertext  # fresh data key and nonce each time


@pytest.mark.parametrize(
    "change",
    [
        {"herd": "ecommerce"},
        {"name": "pii_hash_key"},
        {"version": 2},
        {"ciphertext": base64.b64encode(b"x" * 44).decode()},
    ],
    ids=["other-herd", "other-name", "replayed-version", "altered"],
)
def test_a_moved_or_altered_envelope_does_not_open(change: dict[str, object]) -> None:
    record = seal(KEK, "finance", "warehouse_password", 1, VALUE)
    with pytest.raises(SecretError, match="does not open"):
        unseal(KEK, dataclasses.replace(record, **change))  # type: ignore[arg-type]


def test_another_kek_is_named_not_guessed() -> None:
    record = seal(KEK, "finance", "warehouse_password", 1, VALUE)
    with pytest.raises(SecretError, match="sealed under key"):
        unseal(Kek.generate(), record)


def test_kek_loads_from_file_forms_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = os.urandom(32)
    for name, content in (
        ("raw", raw),
        ("b64", base64.b64encode(raw) + b"\n"),
        ("hex", raw.hex().encode()),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        assert load_kek(path).key == raw
    monkeypatch.setenv(KEK_ENV, base64.b64encode(raw).decode())
    assert load_kek().key == raw
    monkeypatch.delenv(KEK_ENV)
    with pytest.raises(SecretError, match=KEK_ENV):
        load_kek()
    (tmp_path / "short").write_bytes(b"c2hvcnQ=")
    with pytest.raises(SecretError, match="not a key-encryption key"):
        load_kek(tmp_path / "short")
    with pytest.raises(SecretError, match="cannot read"):
        load_kek(tmp_path / "missing")


def test_the_kek_never_appears_in_repr() -> None:
    assert KEK.key.hex() not in repr(KEK) and str(KEK.key) not in repr(KEK)


def test_oversized_values_are_refused() -> None:
    with pytest.raises(SecretError, match="limit"):
        seal(KEK, "finance", "blob", 1, b"x" * (64 * 1024 + 1))
