"""People's bearer tokens: ES256 JWTs minted with the server's key, or external OIDC tokens.

A Runink token is scoped to one herd and one of its roles (``herd``, ``role`` claims):
it grants exactly that role's rules, read from the herd at call time, so removing a role
from the repository revokes every token that names it. An OIDC token names a person
(``email`` or ``sub``) and their groups; the herd's ``members`` map them to roles.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEFAULT_ISSUER = "runink"
DEFAULT_AUDIENCE = "runink"
#: Clock skew tolerated between the minting host and the server (seconds).
LEEWAY_SECONDS = 10
MAX_TTL_SECONDS = 366 * 24 * 3600
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class TokenError(ValueError):
    """A token is missing, malformed, expired or not trusted (the message says which)."""


def parse_ttl(text: str) -> int:
    """``90s``, ``15m``, ``1h``, ``7d`` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise TokenError(f"ttl {text!r} is not a duration; write e.g. 30m, 1h or 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 0 < seconds <= MAX_TTL_SECONDS:
        raise TokenError(f"ttl {text!r} must be between 1s and 366d")
    return seconds


@dataclass(frozen=True)
class Principal:
    """Who is calling, as their token proves it."""

    subject: str
    source: str  # "runink" (minted by the server) or "oidc"
    herd: str | None = None
    role: str | None = None
    groups: tuple[str, ...] = ()
    token_id: str = ""

    def subjects(self) -> tuple[str, ...]:
        """The names the herd's ``members`` may list for this caller."""
        names = [self.subject]
        if not self.subject.startswith(("user:", "group:", "service:")):
            names.append(f"user:{self.subject}")
        names.extend(f"group:{g}" for g in self.groups)
        return tuple(names)


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The server's ES256 signing key (PEM)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except OSError as exc:
        raise TokenError(f"cannot read token key {path}: {exc.strerror}") from None
    except ValueError:
        raise TokenError(f"{path} is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise TokenError(f"{path}: ES256 needs a P-256 EC key")
    return key


class TokenIssuer:
    """Mints herd-scoped tokens with the server's key."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
    ) -> None:
        self._key = key
        self.issuer = issuer
        self.audience = audience

    def mint(
        self,
        herd: str,
        role: str,
        ttl_seconds: int,
        subject: str,
        *,
        now: float | None = None,
    ) -> str:
        """A signed JWT granting ``role`` in ``herd`` to ``subject`` for ``ttl_seconds``."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "herd": herd,
            "role": role,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"typ": "JWT"})


@dataclass(frozen=True)
class OidcSettings:
    """An external identity provider whose tokens the server accepts."""

    issuer: str
    audience: str
    jwks_file: Path | None = None
    jwks_url: str | None = None
    subject_claim: str = "email"
    groups_claim: str = "groups"
    algorithms: tuple[str, ...] = ("RS256", "ES256")

    def __post_init__(self) -> None:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise TokenError("oidc: name exactly one of jwks_file and jwks_url")


class _Jwks:
    """Signing keys of the OIDC issuer, by ``kid``."""

    def __init__(self, settings: OidcSettings) -> None:
        self._client: jwt.PyJWKClient | None = None
        self._set: jwt.PyJWKSet | None = None
        if settings.jwks_url is not None:
            self._client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)
        elif settings.jwks_file is not None:
            try:
                data = orjson.loads(settings.jwks_file.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise TokenError(f"cannot read JWKS {settings.jwks_file}: {exc}") from None
            try:
                self._set = jwt.PyJWKSet.from_dict(data)
            except (jwt.PyJWKSetError, jwt.PyJWKError) as exc:
                raise TokenError(f"JWKS {settings.jwks_file}: {exc}") from None

    def key_for(self, token: str, kid: str | None) -> Any:
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise TokenError(f"OIDC signing key not found: {exc}") from None
        assert self._set is not None
        for key in self._set.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise TokenError(f"OIDC signing key {kid!r} is not in the configured JWKS")


@dataclass
class TokenVerifier:
    """Checks a bearer token and says who it names (or raises TokenError)."""

    public_key: ec.EllipticCurvePublicKey
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    oidc: OidcSettings | None = None
    _jwks: _Jwks | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.oidc is not None:
            self._jwks = _Jwks(self.oidc)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; TokenError naming what is wrong otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("the token is not a JWT") from None
        issuer = unverified.get("iss")
        if issuer == self.issuer:
            claims = self._decode(token, self.public_key, ["ES256"], self.issuer, self.audience)
            herd, role = claims.get("herd"), claims.get("role")
            if not isinstance(herd, str) or not isinstance(role, str):
                raise TokenError("the token names no herd and role")
            return Principal(
                subject=str(claims.get("sub") or "unknown"),
                source="runink",
                herd=herd,
                role=role,
                token_id=str(claims.get("jti") or ""),
            )
        if self.oidc is not None and self._jwks is not None and issuer == self.oidc.issuer:
            key = self._jwks.key_for(token, header.get("kid"))
            claims = self._decode(
                token, key, list(self.oidc.algorithms), self.oidc.issuer, self.oidc.audience
            )
            subject = claims.get(self.oidc.subject_claim) or claims.get("sub")
            if not isinstance(subject, str) or not subject:
                raise TokenError(f"the OIDC token has no {self.oidc.subject_claim!r} claim")
            groups = claims.get(self.oidc.groups_claim) or ()
            return Principal(
                subject=subject,
                source="oidc",
                groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (),
                token_id=str(claims.get("jti") or ""),
            )
        raise TokenError(f"the token's issuer {issuer!r} is not trusted")

    @staticmethod
    def _decode(
        token: str, key: Any, algorithms: list[str], issuer: str, audience: str
    ) -> Mapping[str, Any]:
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError(f"the token is not for audience {audience!r}") from None
        except jwt.InvalidIssuerError:
            raise TokenError(f"the token's issuer is not {issuer!r}") from None
        except jwt.InvalidSignatureError:
            raise TokenError("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"the token has no {exc.claim!r} claim") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("the token is not valid yet") from None
        except jwt.InvalidAlgorithmError:
            raise TokenError(f"the token's algorithm is not one of {algorithms}") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"the token is not valid: {exc}") from None
        return claims
