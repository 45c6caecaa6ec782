"""Bearer tokens: Runink-minted ES256 tokens and external OIDC tokens checked by JWKS."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runink.api.rbac import READ_PIPELINES, READ_SECRETS, allows
from runink.api.tokens import (
    OidcSettings,
    Principal,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    parse_ttl,
)
from runink.repo.herd import Herd, Rule

KEY = ec.generate_private_key(ec.SECP256R1())
IDP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
IDP = "https://idp.example.com"

FINANCE = Herd(
    name="finance",
    path="herds/finance.yaml",
    sha="abc",
    roles={
        "viewer": (Rule("read", "pipelines"), Rule("read", "runs")),
        "operator": (Rule("read", "pipelines"), Rule("read", "secrets")),
    },
    members={"alice@example.com": ("operator",), "group:auditors": ("viewer",)},
)


def _jwks() -> dict[str, object]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(IDP_KEY.public_key()))
    return {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}


def _idp_token(**claims: object) -> str:
    now = int(time.time())
    body = {"iss": IDP, "aud": "runink", "sub": "u-123", "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, IDP_KEY, algorithm="RS256", headers={"kid": "k1"})


def test_a_minted_token_names_its_herd_role_and_subject() -> None:
    token = TokenIssuer(KEY).mint("finance", "viewer", 3600, "alice@example.com")
    principal = TokenVerifier(KEY.public_key()).verify(token)
    assert (principal.herd, principal.role, principal.subject) == (
        "finance",
        "viewer",
        "alice@example.com",
    )
    assert jwt.get_unverified_header(token)["alg"] == "ES256"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (TokenIssuer(KEY).mint("f", "r", 60, "a", now=time.time() - 3600), "expired"),
        (
            TokenIssuer(ec.generate_private_key(ec.SECP256R1())).mint("f", "r", 86400, "a"),
            "signature does not verify",
        ),
        (TokenIssuer(KEY, audience="other").mint("f", "r", 86400, "a"), "not for audience"),
        (TokenIssuer(KEY, issuer="someone").mint("f", "r", 86400, "a"), "issuer 'someone'"),
        ("not-a-jwt", "not a JWT"),
        (
            jwt.encode(
                {"iss": "runink", "aud": "runink", "sub": "a", "exp": time.time() + 86400},
                KEY,
                algorithm="ES256",
            ),
            "no herd and role",
        ),
        (
            jwt.encode(
                {
                    "iss": "runink",
                    "aud": "runink",
                    "sub": "a",
                    "herd": "f",
                    "role": "r",
                    "exp": time.time() + 86400,  # built at collection: outlives a slow suite
                },
                "shared-secret-0123456789abcdef0123456789",
                algorithm="HS256",
            ),
            "algorithm",
        ),
    ],
    ids=["expired", "forged", "audience", "issuer", "garbage", "no-herd", "hs256"],
)
def test_bad_tokens_are_refused_with_the_reason(token: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        TokenVerifier(KEY.public_key()).verify(token)


def test_ttl_is_parsed_and_bounded() -> None:
    assert parse_ttl("90s") == 90 and parse_ttl("1h") == 3600 and parse_ttl("7d") == 604800
    for bad in ("1 hour", "0m", "999d", ""):
        with pytest.raises(TokenError):
            parse_ttl(bad)


def test_oidc_tokens_are_checked_against_a_jwks_file_and_mapped_through_members(
    tmp_path: Path,
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(_jwks()))
    verifier = TokenVerifier(KEY.public_key(), oidc=OidcSettings(IDP, "runink", jwks_file=jwks))
    alice = verifier.verify(_idp_token(email="alice@example.com"))
    assert alice.source == "oidc" and alice.subject == "alice@example.com"
    assert allows(alice, FINANCE, READ_SECRETS)
    auditor = verifier.verify(_idp_token(email="eve@example.com", groups=["auditors"]))
    assert allows(auditor, FINANCE, READ_PIPELINES) and not allows(auditor, FINANCE, READ_SECRETS)
    stranger = verifier.verify(_idp_token(email="zed@example.com"))
    assert not allows(stranger, FINANCE, READ_PIPELINES)
    with pytest.raises(TokenError, match="not for audience"):
        verifier.verify(_idp_token(email="alice@example.com", aud="another-app"))
    forged = jwt.encode(
        {
            "iss": IDP,
            "aud": "runink",
            "sub": "x",
            "email": "alice@example.com",
            "exp": time.time() + 86400,
        },
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(TokenError, match="signature"):
        verifier.verify(forged)
    with pytest.raises(TokenError, match="not in the configured JWKS"):
        verifier.verify(jwt.encode({"iss": IDP}, IDP_KEY, algorithm="RS256", headers={"kid": "k9"}))


@pytest.fixture
def jwks_url() -> Iterator[str]:
    body = json.dumps(_jwks()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.timeout(30)
def test_oidc_tokens_are_checked_against_a_jwks_url(jwks_url: str) -> None:
    verifier = TokenVerifier(KEY.public_key(), oidc=OidcSettings(IDP, "runink", jwks_url=jwks_url))
    principal = verifier.verify(_idp_token(email="alice@example.com", groups=["auditors"]))
    assert principal.subjects() == (
        "alice@example.com",
        "user:alice@example.com",
        "group:auditors",
    )


def test_a_runink_token_grants_only_its_role_in_its_herd() -> None:
    viewer = Principal("bob@example.com", "runink", herd="finance", role="viewer")
    assert allows(viewer, FINANCE, READ_PIPELINES)
    assert not allows(viewer, FINANCE, READ_SECRETS)
    elsewhere = Principal("bob@example.com", "runink", herd="ecommerce", role="viewer")
    assert not allows(elsewhere, FINANCE, READ_PIPELINES)
