"""A small PKI for mTLS between Runink components: one CA, server, agent and client certs.

Certificates name who holds them in their common name (and a ``runink://`` URI SAN):
``server``, ``node:<name>`` for the agent of a node, ``client:<name>`` for people's
tools. The server trusts only its CA, and an agent's name is read from its cert.
The same directory holds the server's token-signing key and the secrets KEK.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from runink.api.keys import KeyNameError, check_name
from runink.api.secrets import Kek

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
CLIENT_CERT = "client.crt"
CLIENT_KEY = "client.key"
TOKEN_KEY = "token.key"  # noqa: S105 (a file name)
TOKEN_PUB = "token.pub"  # noqa: S105 (a file name)
KEK_FILE = "secrets.kek"

AGENT_PREFIX = "node:"
CLIENT_PREFIX = "client:"
SERVER_NAME = "server"
DEFAULT_HOSTS = ("127.0.0.1", "localhost")


class PkiError(ValueError):
    """The PKI directory cannot be created or read (message names the file)."""


@dataclass(frozen=True)
class Identity:
    """Who a certificate names: ``kind`` is ``server``, ``agent`` or ``client``."""

    kind: str
    name: str

    def __str__(self) -> str:
        """The common name that states this identity (``node:n1``, ``client:ci``)."""
        if self.kind == "server":
            return SERVER_NAME
        return f"{AGENT_PREFIX if self.kind == 'agent' else CLIENT_PREFIX}{self.name}"


def identity_of(common_name: str) -> Identity | None:
    """The identity a certificate's common name states, or None if it states none."""
    if common_name == SERVER_NAME:
        return Identity("server", SERVER_NAME)
    for prefix, kind in ((AGENT_PREFIX, "agent"), (CLIENT_PREFIX, "client")):
        if common_name.startswith(prefix) and len(common_name) > len(prefix):
            return Identity(kind, common_name[len(prefix) :])
    return None


def identity_from_pem(pem: bytes) -> Identity | None:
    """The identity of a PEM certificate (what the server sees of a TLS peer)."""
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return identity_of(value if isinstance(value, str) else value.decode())


def _write(path: Path, data: bytes, private: bool) -> None:
    # Private keys are created 0600 from the start, never chmod-ed after the fact.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Runink"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _make_ca(days: int) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Runink CA")
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _san(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    identity: Identity,
    hosts: Sequence[str] = (),
    days: int = 365,
) -> tuple[bytes, bytes]:
    """A certificate and key (PEM) for ``identity``, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usage = (
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        if identity.kind == "server"
        else [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    alt: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(f"runink://{str(identity).replace(':', '/')}")
    ]
    if identity.kind == "server":
        alt = _san(hosts or DEFAULT_HOSTS) + alt
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(str(identity)))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def cert_files(identity: Identity) -> tuple[str, str]:
    """File names of an identity's certificate and key inside a PKI directory."""
    if identity.kind == "server":
        return SERVER_CERT, SERVER_KEY
    if identity.kind == "agent":
        return f"agent-{identity.name}.crt", f"agent-{identity.name}.key"
    if identity.name == "default":
        return CLIENT_CERT, CLIENT_KEY
    return f"client-{identity.name}.crt", f"client-{identity.name}.key"


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate((directory / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
    except OSError as exc:
        raise PkiError(f"{exc.filename}: {exc.strerror}; run `runi pki init` first") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{directory / CA_KEY}: not an EC private key")
    return cert, key


def issue(
    directory: Path,
    identity: Identity,
    hosts: Sequence[str] = (),
    days: int = 365,
    *,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Issue a certificate from the CA in ``directory``; returns (cert, key) paths."""
    try:
        check_name(identity.kind, identity.name)
    except KeyNameError as exc:
        raise PkiError(str(exc)) from None
    ca_cert, ca_key = _load_ca(directory)
    cert_name, key_name = cert_files(identity)
    cert_path, key_path = directory / cert_name, directory / key_name
    if not overwrite and (cert_path.exists() or key_path.exists()):
        raise PkiError(f"{cert_path} already exists; remove it to issue a new one")
    cert_pem, key_pem = issue_cert(ca_cert, ca_key, identity, hosts, days)
    _write(key_path, key_pem, private=True)
    _write(cert_path, cert_pem, private=False)
    return cert_path, key_path


def init_pki(
    directory: Path,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    agents: Sequence[str] = (),
    clients: Sequence[str] = ("default",),
    days: int = 365,
) -> list[Path]:
    """Create a CA, the server's cert, token key and KEK, and agent/client certs.

    Refuses to touch a directory that already holds a CA: replacing it would cut off
    every component that trusts the old one.
    """
    for name in [*agents, *clients]:
        try:
            check_name("certificate", name)
        except KeyNameError as exc:
            raise PkiError(str(exc)) from None
    if (directory / CA_KEY).exists() or (directory / CA_CERT).exists():
        raise PkiError(f"{directory} already holds a CA; use `runi pki issue` to add certificates")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    ca_cert, ca_key = _make_ca(days)
    _write(directory / CA_KEY, _key_pem(ca_key), private=True)
    _write(directory / CA_CERT, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
    written = [directory / CA_CERT, directory / CA_KEY]
    written.extend(issue(directory, Identity("server", SERVER_NAME), hosts, days))
    for agent in agents:
        written.extend(issue(directory, Identity("agent", agent), (), days))
    for client in clients:
        written.extend(issue(directory, Identity("client", client), (), days))
    token_key = ec.generate_private_key(ec.SECP256R1())
    _write(directory / TOKEN_KEY, _key_pem(token_key), private=True)
    _write(
        directory / TOKEN_PUB,
        token_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        private=False,
    )
    _write(directory / KEK_FILE, Kek.generate().encode(), private=True)
    written.extend([directory / TOKEN_KEY, directory / TOKEN_PUB, directory / KEK_FILE])
    return written
