"""Keyless lineage signing with Sigstore: one bundle per commit, verified offline.

A commit cannot hold a signature of itself, so what is signed is a *manifest* of what
the commit adds: each run file's path with its git blob id and SHA-256, and the
commit's trailers (canonical JSON). The bundle (Sigstore's ``.sigstore.json``: Fulcio
certificate, signature, Rekor inclusion proof) is stored in the same commit at a path
derived from the manifest, ``sigstore/<sha256 of the manifest>.sigstore.json``, so a
verifier recomputes the manifest from the commit, finds the bundle by name and checks
it offline against the trust root sigstore-python ships.

Signing needs the network (Fulcio, Rekor) and an OIDC identity: ``SIGSTORE_IDENTITY_TOKEN``
or the CI's ambient credentials (GitHub Actions with ``id-token: write``, GitLab, GCP,
Buildkite, CircleCI). The sigstore package is imported only when it is used.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import jwt
import orjson
import yaml

if TYPE_CHECKING:
    from sigstore.verify import Verifier

BUNDLE_DIR: Final = "sigstore"
BUNDLE_FILE: Final = re.compile(rf"^{BUNDLE_DIR}/[0-9a-f]{{64}}\.sigstore\.json$")
MANIFEST_KIND: Final = "RuninkLineageManifest"
TOKEN_ENV: Final = "SIGSTORE_IDENTITY_TOKEN"  # noqa: S105 - the variable's name, not a token
_PRODUCTION_TUF: Final = "https://tuf-repo-cdn.sigstore.dev"
_TOKEN_MARGIN_S: Final = 60.0  # Fulcio must receive the token before it expires


class SigstoreError(Exception):
    """Signing or verifying with Sigstore is not possible here (the message says why)."""


@dataclass(frozen=True)
class SigstorePolicy:
    """Whose Sigstore signatures lineage trusts (``spec.lineage.sigstore``)."""

    identity: str | None = None
    issuer: str | None = None
    trusted_root: Path | None = None  # None: the trust root sigstore-python ships
    signing: str = "ssh"  # spec.lineage.signing: with "sigstore", every commit needs a bundle

    @property
    def complete(self) -> bool:
        return bool(self.identity and self.issuer)


def file_entry(blob: str, content: bytes) -> dict[str, str]:
    """One file of a manifest: its git blob id and the SHA-256 of its bytes."""
    return {"blob": blob, "sha256": hashlib.sha256(content).hexdigest()}


def manifest(
    files: Mapping[str, Mapping[str, str]], trailers: Mapping[str, Sequence[str]]
) -> bytes:
    """Canonical bytes of what a commit adds: paths -> file entries, and its trailers.

    Trailer values are sorted, so the order git prints them in does not matter.
    """
    return (
        orjson.dumps(
            {
                "kind": MANIFEST_KIND,
                "apiVersion": "runink.dev/v1",
                "files": {path: dict(files[path]) for path in sorted(files)},
                "trailers": {k: sorted(v) for k, v in sorted(trailers.items()) if v},
            },
            option=orjson.OPT_SORT_KEYS,
        )
        + b"\n"
    )


def bundle_path(manifest_bytes: bytes) -> str:
    """Where the bundle signing ``manifest_bytes`` lives in the commit."""
    return f"{BUNDLE_DIR}/{hashlib.sha256(manifest_bytes).hexdigest()}.sigstore.json"


def git_blob_id(content: bytes, object_format: str = "sha1") -> str:
    """The id git gives ``content`` as a blob (``sha1`` or ``sha256`` repositories)."""
    return hashlib.new(object_format, b"blob %d\0" % len(content) + content).hexdigest()


# -- signing (network) -------------------------------------------------------------

_token_lock = threading.Lock()
_token: tuple[str, float] | None = None  # (raw token, expiry as a Unix time)


def identity_token() -> str:
    """An OIDC token for Sigstore, reused while it is valid; SigstoreError if none.

    ``SIGSTORE_IDENTITY_TOKEN`` first, else the CI's ambient credentials.
    """
    global _token
    with _token_lock:
        if _token is not None and _token[1] - time.time() > _TOKEN_MARGIN_S:
            return _token[0]
        raw = os.environ.get(TOKEN_ENV) or _ambient()
        if not raw:
            raise SigstoreError(
                "no OIDC identity for Sigstore: run where CI provides one (GitHub Actions "
                f"with 'permissions: id-token: write', GitLab, GCP...) or set {TOKEN_ENV}; "
                "or use spec.lineage.signing: ssh"
            )
        from sigstore.oidc import IdentityError, IdentityToken

        try:
            IdentityToken(raw)  # checks audience and validity period, not the signature
        except IdentityError as exc:
            raise SigstoreError(f"the OIDC identity token is not usable: {exc}") from None
        claims = jwt.decode(raw, options={"verify_signature": False})
        _token = (raw, float(claims.get("exp", 0)))
        return raw


def _ambient() -> str | None:
    from sigstore.oidc import IdentityError, detect_credential

    try:
        return detect_credential()
    except IdentityError as exc:
        raise SigstoreError(f"CI credentials for Sigstore were found but failed: {exc}") from None


def signing_unavailable() -> str | None:
    """Why lineage cannot be signed with Sigstore here, or None if an identity exists."""
    try:
        identity_token()
    except SigstoreError as exc:
        return str(exc)
    return None


def sign(manifest_bytes: bytes) -> bytes:
    """A Sigstore bundle (JSON) signing ``manifest_bytes``: Fulcio + Rekor, over the network."""
    token = identity_token()
    from sigstore.errors import Error
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    try:
        context = SigningContext.from_trust_config(ClientTrustConfig.production())
        with context.signer(IdentityToken(token), cache=False) as signer:
            bundle = signer.sign_artifact(manifest_bytes)
    except (Error, OSError) as exc:
        raise SigstoreError(f"Sigstore signing failed: {exc}") from None
    except Exception as exc:  # requests and pydantic errors: the network boundary
        raise SigstoreError(f"Sigstore signing failed: {type(exc).__name__}: {exc}") from None
    return bundle.to_json().encode()


# -- verifying (offline) -------------------------------------------------------------


def verify_bundle(manifest_bytes: bytes, bundle: bytes, policy: SigstorePolicy) -> str | None:
    """What is wrong with ``bundle`` as a signature of ``manifest_bytes``, or None.

    Offline: the certificate chain, the signed timestamp or Rekor inclusion promise
    and the inclusion proof are checked against the trust root alone.
    """
    if not policy.complete:
        return (
            "is signed with Sigstore but no identity is trusted: set spec.lineage.sigstore."
            "identity and .issuer in runink.yaml (or pass --sigstore-identity/--sigstore-issuer)"
        )
    from sigstore.errors import Error, VerificationError
    from sigstore.models import Bundle
    from sigstore.verify.policy import Identity

    try:
        parsed = Bundle.from_json(bundle)
    except (Error, ValueError) as exc:
        return f"its Sigstore bundle cannot be read: {_first_line(exc)}"
    verifier = _verifier(policy.trusted_root)
    try:
        verifier.verify_artifact(
            manifest_bytes, parsed, Identity(identity=str(policy.identity), issuer=policy.issuer)
        )
    except VerificationError as exc:
        return f"its Sigstore bundle does not verify: {_first_line(exc)}"
    except (Error, ValueError) as exc:
        return f"its Sigstore bundle cannot be checked: {_first_line(exc)}"
    return None


def bundle_signer(bundle: bytes) -> str:
    """The identity in a bundle's certificate (for display; not a verification)."""
    from cryptography import x509
    from sigstore.models import Bundle

    try:
        cert = Bundle.from_json(bundle).signing_certificate
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except Exception:  # any unreadable bundle: verify says what is wrong
        return ""
    names = [*san.get_values_for_type(x509.RFC822Name)]
    names += san.get_values_for_type(x509.UniformResourceIdentifier)
    return names[0] if names else ""


@lru_cache(maxsize=4)
def _verifier(trusted_root: Path | None) -> Verifier:
    from sigstore.errors import Error
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    try:
        if trusted_root is None:
            shipped = resources.files("sigstore._store").joinpath(
                quote(_PRODUCTION_TUF, safe=""), "trusted_root.json"
            )
            with resources.as_file(shipped) as path:
                root = TrustedRoot.from_file(str(path))
        else:
            root = TrustedRoot.from_file(str(trusted_root))
        return Verifier(trusted_root=root)
    except (Error, OSError, ValueError) as exc:
        raise SigstoreError(f"cannot load the Sigstore trust root: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def policy_at_head(path: Path) -> SigstorePolicy:
    """``spec.lineage.signing`` and ``.sigstore`` of ``runink.yaml`` as committed at HEAD."""
    done = subprocess.run(
        ["git", "show", "HEAD:runink.yaml"],
        cwd=path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        data = yaml.safe_load(done.stdout) if done.returncode == 0 else None
    except yaml.YAMLError:
        data = None
    spec = data.get("spec") if isinstance(data, Mapping) else None
    lineage = spec.get("lineage") if isinstance(spec, Mapping) else None
    if not isinstance(lineage, Mapping):
        return SigstorePolicy()
    found = lineage.get("sigstore")
    found = found if isinstance(found, Mapping) else {}
    identity, issuer = found.get("identity"), found.get("issuer")
    return SigstorePolicy(
        identity=str(identity) if identity else None,
        issuer=str(issuer) if issuer else None,
        signing=str(lineage.get("signing") or "ssh"),
    )
