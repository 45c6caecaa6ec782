"""Sealing secret values: AES-256-GCM envelope encryption under a key-encryption key.

Each version of a secret gets a fresh 256-bit data key; the value is encrypted with it
and the data key is encrypted ("wrapped") with the KEK, both with AES-256-GCM and the
secret's herd, name and version as associated data, so a ciphertext moved to another
key, or replayed as another version, fails to open. Barn holds only the envelope.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from runink.api.records import SecretRecord

#: Environment variable holding the KEK (base64 of 32 bytes) when no file is named.
KEK_ENV = "RUNINK_SECRETS_KEK"
KEY_BYTES = 32
NONCE_BYTES = 12
#: The largest value accepted (secrets are passwords and keys, not files).
MAX_VALUE_BYTES = 64 * 1024


class SecretError(ValueError):
    """A KEK cannot be loaded, or a sealed value cannot be opened."""


@dataclass(frozen=True)
class Kek:
    """A key-encryption key. ``id`` names it without revealing it (never repr'd)."""

    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise SecretError(f"a key-encryption key is {KEY_BYTES} bytes, not {len(self.key)}")

    @property
    def id(self) -> str:
        return hashlib.sha256(b"runink-kek-id\0" + self.key).hexdigest()[:16]

    @classmethod
    def generate(cls) -> Kek:
        return cls(os.urandom(KEY_BYTES))

    def encode(self) -> bytes:
        """The file form: base64 text and a newline."""
        return base64.b64encode(self.key) + b"\n"


def decode_kek(text: bytes, where: str) -> Kek:
    """A KEK from raw 32 bytes, or base64 / hex text of them."""
    if len(text) == KEY_BYTES:
        return Kek(text)
    stripped = text.strip()
    candidates = []
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(stripped, validate=True))
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        candidates.append(bytes.fromhex(stripped.decode("ascii")))
    for raw in candidates:
        if len(raw) == KEY_BYTES:
            return Kek(raw)
    raise SecretError(
        f"{where}: not a key-encryption key (expected {KEY_BYTES} bytes, as base64 or hex); "
        "make one with `runi pki init`"
    )


def load_kek(path: Path | None = None, env: str = KEK_ENV) -> Kek:
    """The KEK from ``path``, else from ``$env``; SecretError says what is missing."""
    if path is not None:
        try:
            return decode_kek(path.read_bytes(), str(path))
        except OSError as exc:
            raise SecretError(f"cannot read key-encryption key {path}: {exc.strerror}") from None
    value = os.environ.get(env)
    if not value:
        raise SecretError(f"no key-encryption key: name a file (kek_file) or set ${env}")
    return decode_kek(value.encode(), f"${env}")


def _aad(herd: str, name: str, version: int) -> bytes:
    return f"runink-secret\0{herd}\0{name}\0{version}".encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal(
    kek: Kek,
    herd: str,
    name: str,
    version: int,
    value: bytes,
    *,
    updated_at: str = "",
    updated_by: str = "",
) -> SecretRecord:
    """Encrypt ``value`` into the record Barn stores."""
    if len(value) > MAX_VALUE_BYTES:
        raise SecretError(f"secret value is {len(value)} bytes; the limit is {MAX_VALUE_BYTES}")
    aad = _aad(herd, name, version)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce, key_nonce = os.urandom(NONCE_BYTES), os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, value, aad)
    wrapped = AESGCM(kek.key).encrypt(key_nonce, data_key, aad)
    return SecretRecord(
        herd=herd,
        name=name,
        version=version,
        kek_id=kek.id,
        nonce=_b64(nonce),
        ciphertext=_b64(ciphertext),
        key_nonce=_b64(key_nonce),
        wrapped_key=_b64(wrapped),
        updated_at=updated_at,
        updated_by=updated_by,
    )


def unseal(kek: Kek, record: SecretRecord) -> bytes:
    """The plaintext of a sealed record; SecretError if the key or the record is wrong."""
    if record.kek_id != kek.id:
        raise SecretError(
            f"secret {record.herd}/{record.name} is sealed under key {record.kek_id}, "
            f"the server holds {kek.id}"
        )
    aad = _aad(record.herd, record.name, record.version)
    try:
        data_key = AESGCM(kek.key).decrypt(
            base64.b64decode(record.key_nonce), base64.b64decode(record.wrapped_key), aad
        )
        return AESGCM(data_key).decrypt(
            base64.b64decode(record.nonce), base64.b64decode(record.ciphertext), aad
        )
    except (InvalidTag, binascii.Error, ValueError):
        raise SecretError(
            f"secret {record.herd}/{record.name} v{record.version} does not open: "
            "it was altered or sealed for another herd, name or version"
        ) from None
