"""The API server's config: every file it names is loaded, every mistake named."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from runink.api.config import ApiConfigError, load_api_config
from runink.api.pki import init_pki


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    init_pki(tmp_path / "pki")
    return tmp_path / "pki"


def _write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_complete_config_loads_with_paths_relative_to_it(tmp_path: Path, pki: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**jwk, "kid": "k1"}]}))
    config = load_api_config(
        _write(
            tmp_path,
            {
                "listen": "127.0.0.1:0",
                "pki": "pki",
                "barn": "barn.yaml",
                "kek_file": "pki/secrets.kek",
                "tokens": {"audience": "runink-prod"},
                "oidc": {"issuer": "https://idp", "audience": "runink", "jwks_file": "jwks.json"},
            },
        )
    )
    assert config.barn_config == tmp_path / "barn.yaml" and config.barn_mode == "embedded"
    assert config.settings.verifier.audience == "runink-prod"
    assert config.settings.verifier.oidc is not None
    assert config.settings.tls.ca == (pki / "ca.crt").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"listn": "x"}, "unknown keys ['listn']"),
        ({"pki": "nowhere"}, "pki: cannot read"),
        ({"kek_file": "missing.kek"}, "cannot read key-encryption key"),
        ({"barn_mode": "sideways"}, "barn_mode: expected embedded or remote"),
        ({"oidc": {"issuer": "https://idp"}}, "oidc: missing key 'audience'"),
        (
            {"oidc": {"issuer": "https://idp", "audience": "a"}},
            "exactly one of jwks_file and jwks_url",
        ),
        (
            {"oidc": {"issuer": "https://idp", "audience": "a", "jwks_file": "pki/ca.crt"}},
            "cannot read JWKS",
        ),
    ],
)
def test_config_mistakes_are_named(
    tmp_path: Path, pki: Path, change: dict[str, object], message: str
) -> None:
    data = {"pki": "pki", "barn": "barn.yaml", "kek_file": "pki/secrets.kek", **change}
    with pytest.raises(ApiConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_api_config(_write(tmp_path, data))
