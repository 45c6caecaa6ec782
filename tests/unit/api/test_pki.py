"""The PKI: a CA and certificates that name their holder; private keys kept private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from runink.api.pki import Identity, PkiError, identity_from_pem, init_pki, issue


def test_init_writes_a_ca_and_certs_that_name_their_holders(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    written = init_pki(pki, agents=("n1",), clients=("default", "ci"))
    names = {p.name for p in written}
    assert {
        "ca.crt",
        "server.crt",
        "agent-n1.crt",
        "client.crt",
        "client-ci.crt",
        "token.key",
        "secrets.kek",
    } <= names
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.suffix in (".key", ".kek"):
            assert mode == 0o600, path
    assert identity_from_pem((pki / "agent-n1.crt").read_bytes()) == Identity("agent", "n1")
    assert identity_from_pem((pki / "client-ci.crt").read_bytes()) == Identity("client", "ci")
    server = x509.load_pem_x509_certificate((pki / "server.crt").read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    server.verify_directly_issued_by(ca)


def test_init_refuses_to_replace_a_ca_and_issue_adds_agents(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_pki(pki)
    with pytest.raises(PkiError, match="already holds a CA"):
        init_pki(pki)
    cert, _ = issue(pki, Identity("agent", "n7"))
    assert identity_from_pem(cert.read_bytes()) == Identity("agent", "n7")
    with pytest.raises(PkiError, match="already exists"):
        issue(pki, Identity("agent", "n7"))
    with pytest.raises(PkiError, match="invalid agent name"):
        issue(pki, Identity("agent", "../evil"))
    with pytest.raises(PkiError, match="runi pki init"):
        issue(tmp_path / "empty", Identity("agent", "n1"))
