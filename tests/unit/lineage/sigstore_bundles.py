"""Sigstore bundles made here, offline: well-formed, signed, and chained to no real root.

They stand where Fulcio and Rekor would answer (the network boundary): the bundle is in
Sigstore's format, carries a real certificate and a real ECDSA signature of the payload,
and a transparency-log entry that no Rekor key signed, so offline verification against
the trust root sigstore-python ships must refuse it.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runink.lineage import sigstore

IDENTITY = "lineage-ci@runink.test"
ISSUER = "https://token.actions.githubusercontent.com"
# runink.yaml's lineage signing for keyless commits by IDENTITY.
SIGSTORE_BLOCK = (
    f"    signing: sigstore\n    sigstore: {{identity: {IDENTITY}, issuer: '{ISSUER}'}}\n"
)
# Where sigstore-python finds an ambient OIDC identity (CI providers' variables).
AMBIENT = (
    sigstore.TOKEN_ENV,
    "GITHUB_ACTIONS",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_NAME",
    "BUILDKITE",
    "GITLAB_CI",
    "CIRCLECI",
)


def forget_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with no OIDC identity: no token, no CI credentials, none cached."""
    for name in AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sigstore, "_token", None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unanchored_bundle(payload: bytes, identity: str = IDENTITY) -> bytes:
    """A v0.3 bundle signing ``payload`` with a self-issued certificate for ``identity``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(key, hashes.SHA256())
    )
    digest = hashlib.sha256(payload).digest()
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    body = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {"content": _b64(signature), "publicKey": {"content": _b64(pem)}},
        },
    }
    root = hashlib.sha256(b"a tree no log has").digest()
    entry = {
        "logIndex": "7",
        "logId": {"keyId": _b64(hashlib.sha256(b"no such log").digest())},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
        "integratedTime": str(int(time.time())),
        "inclusionPromise": {"signedEntryTimestamp": _b64(signature)},
        "inclusionProof": {
            "logIndex": "7",
            "rootHash": _b64(root),
            "treeSize": "8",
            "hashes": [_b64(hashlib.sha256(b"sibling").digest())],
            "checkpoint": {"envelope": f"rekor.sigstore.dev - 1\n8\n{_b64(root)}\n\n"},
        },
        "canonicalizedBody": _b64(json.dumps(body).encode()),
    }
    bundle = {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "certificate": {"rawBytes": _b64(cert.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [entry],
        },
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
            "signature": _b64(signature),
        },
    }
    return json.dumps(bundle).encode()
