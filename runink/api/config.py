"""API server configuration: listen address, PKI files, token issuer, OIDC, KEK, Barn.

```yaml
listen: 127.0.0.1:7443
pki: pki/                   # ca.crt, server.crt, server.key, token.key (runi pki init)
barn: barn.yaml             # the Barn member this server embeds
kek_file: pki/secrets.kek   # or kek_env: RUNINK_SECRETS_KEK
tokens: {issuer: runink, audience: runink}
oidc: {issuer: https://idp.example.com, audience: runink, jwks_url: https://...}
```
Relative paths resolve against the config file's directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runink.api import pki
from runink.api.secrets import KEK_ENV, SecretError, load_kek
from runink.api.server import ApiSettings, TlsFiles
from runink.api.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    OidcSettings,
    TokenError,
    TokenVerifier,
    load_private_key,
)

DEFAULT_LISTEN = "127.0.0.1:7443"
_KNOWN = {"listen", "pki", "barn", "barn_mode", "kek_file", "kek_env", "tokens", "oidc"}


class ApiConfigError(ValueError):
    """The API config cannot start a server (message names the key)."""


@dataclass(frozen=True)
class ApiConfig:
    settings: ApiSettings
    barn_config: Path
    barn_mode: str  # "embedded": run a member here; "remote": connect to the cluster


def _path(base: Path, value: Any, key: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ApiConfigError(f"{key}: expected a path")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ApiConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None


def settings_from_dict(data: dict[str, Any], base: Path) -> ApiConfig:
    """Validate a parsed config and load every file it names."""
    if not isinstance(data, dict):
        raise ApiConfigError("the API config must be a mapping")
    unknown = set(data) - _KNOWN
    if unknown:
        raise ApiConfigError(f"unknown keys {sorted(unknown)}; known: {sorted(_KNOWN)}")
    pki_dir = _path(base, data.get("pki"), "pki")
    tls = TlsFiles(
        ca=_read(pki_dir / pki.CA_CERT, "pki"),
        cert=_read(pki_dir / pki.SERVER_CERT, "pki"),
        key=_read(pki_dir / pki.SERVER_KEY, "pki"),
    )
    tokens = data.get("tokens") or {}
    try:
        key = load_private_key(pki_dir / pki.TOKEN_KEY)
        oidc_data = data.get("oidc")
        oidc = None
        if oidc_data:
            jwks_file = oidc_data.get("jwks_file")
            oidc = OidcSettings(
                issuer=str(oidc_data["issuer"]),
                audience=str(oidc_data["audience"]),
                jwks_file=None if jwks_file is None else _path(base, jwks_file, "oidc.jwks_file"),
                jwks_url=oidc_data.get("jwks_url"),
                subject_claim=str(oidc_data.get("subject_claim", "email")),
                groups_claim=str(oidc_data.get("groups_claim", "groups")),
            )
        verifier = TokenVerifier(
            key.public_key(),
            issuer=str(tokens.get("issuer", DEFAULT_ISSUER)),
            audience=str(tokens.get("audience", DEFAULT_AUDIENCE)),
            oidc=oidc,
        )
    except TokenError as exc:
        raise ApiConfigError(str(exc)) from None
    except KeyError as exc:
        raise ApiConfigError(f"oidc: missing key {exc}") from None
    kek_file = data.get("kek_file")
    try:
        kek = load_kek(
            None if kek_file is None else _path(base, kek_file, "kek_file"),
            str(data.get("kek_env", KEK_ENV)),
        )
    except SecretError as exc:
        raise ApiConfigError(str(exc)) from None
    mode = str(data.get("barn_mode", "embedded"))
    if mode not in ("embedded", "remote"):
        raise ApiConfigError(f"barn_mode: expected embedded or remote, not {mode!r}")
    return ApiConfig(
        settings=ApiSettings(
            address=str(data.get("listen", DEFAULT_LISTEN)), tls=tls, verifier=verifier, kek=kek
        ),
        barn_config=_path(base, data.get("barn"), "barn"),
        barn_mode=mode,
    )


def load_api_config(path: Path) -> ApiConfig:
    """Load the API server's YAML config file."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ApiConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ApiConfigError(f"{path}: not YAML: {exc}") from None
    return settings_from_dict(data, path.parent)
