"""The embedded default's state directory: what `runi up` needs, made once, kept.

``<data>/pki`` (CA, server, agent and client certificates, token key, KEK), the Barn
secret and member config (ports chosen on first start and kept, so a restart finds
its journal's peers), the metrics token and each source's webhook secret, and the SSH
key that signs lineage commits (``<data>/lineage/signing_key``, generated with
ssh-keygen when no key is given; ``allowed_signers`` next to it holds the line that
trusts it), and for a source given by URL its bare mirror (``<data>/sources/<name>.git``).
Everything secret is mode 0600 and lives in the data dir, never in the repository's work
tree; a URL's credentials are never written at all.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import orjson

from reconciler.server import ServerConfig
from reconciler.source import SourceSpec
from runink.api.pki import CA_CERT, KEK_FILE, SERVER_CERT, SERVER_KEY, TOKEN_KEY, init_pki
from runink.api.secrets import load_kek
from runink.api.server import ApiSettings, TlsFiles
from runink.api.tokens import TokenVerifier, load_private_key
from runink.barn import BarnConfig, MemberConfig
from runink.repo.remote import Mirror, mirror_path

LOCAL_NODE = "local"
LINEAGE_KEY = Path("lineage") / "signing_key"
LINEAGE_ALLOWED_SIGNERS = Path("lineage") / "allowed_signers"
LINEAGE_PRINCIPAL = "runink-lineage"


@dataclass(frozen=True)
class Ports:
    raft: int
    barn: int
    api: int
    http: int


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _secret_file(path: Path, make: bytes) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(make)
    return path.read_bytes()


def ports(data_dir: Path) -> Ports:
    """The ports of this data dir: chosen free on first use, then kept."""
    path = data_dir / "ports.json"
    if path.exists():
        return Ports(**orjson.loads(path.read_bytes()))
    chosen = Ports(*_free_ports(4))
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(chosen.__dict__))
    return chosen


def lineage_signing_key(data_dir: Path) -> Path:
    """The data dir's lineage signing key, made with ssh-keygen (ed25519) on first use.

    ``<data>/lineage/allowed_signers`` gets the line that trusts it, in git's
    allowed-signers format, ready to be added to the repository's file.
    """
    key = data_dir / LINEAGE_KEY
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(key.parent, 0o700)
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                LINEAGE_PRINCIPAL,
                "-f",
                str(key),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    signers = data_dir / LINEAGE_ALLOWED_SIGNERS
    if not signers.exists():
        signers.write_text(allowed_signers_line(key) + "\n")
    return key


def allowed_signers_line(key: Path) -> str:
    """``<principal> namespaces="git" <public key>``: the line that trusts ``key``."""
    public = Path(f"{key}.pub")
    text = public.read_text().split() if public.exists() else []
    if len(text) < 2:
        done = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(key)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        text = done.stdout.split()
    return f'{LINEAGE_PRINCIPAL} namespaces="git" {text[0]} {text[1]}'


def source_spec(data_dir: Path, repo: Path | str, name: str, poll: float) -> SourceSpec:
    """A local path as it is; a URL as its mirror in the data dir (created, not fetched)."""
    if isinstance(repo, Path):
        return SourceSpec(name, repo.resolve(), poll_interval=poll)
    mirror = Mirror(repo, mirror_path(data_dir, name))
    mirror.ensure()
    return SourceSpec(name, mirror.path, poll_interval=poll, url=repo)


def embedded_config(
    data_dir: Path,
    repo: Path | str,
    *,
    name: str = "local",
    resync: float = 30.0,
    signing_key: Path | None = None,
    generate_signing_key: bool = True,
) -> ServerConfig:
    """The server config of `runi up` for ``repo`` (creating the state it needs).

    ``repo`` is a local repository's path, or a git URL (a ``str``): then the source is
    read from a bare mirror, ``<data>/sources/<name>.git``, made here (empty) and fetched
    into by the source controller. Lineage commits are signed with ``signing_key``, else
    (``generate_signing_key``) with the data dir's own key, made on first use.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    pki = data_dir / "pki"
    if not (pki / CA_CERT).exists():
        init_pki(pki, agents=(LOCAL_NODE,), clients=("default",))
    chosen = ports(data_dir)
    barn_secret = _secret_file(data_dir / "barn.secret", secrets.token_bytes(32))
    metrics_token = _secret_file(data_dir / "metrics.token", secrets.token_hex(24).encode())
    hook_secret = _secret_file(
        data_dir / "hooks" / f"{name}.secret", secrets.token_hex(24).encode()
    )
    key = load_private_key(pki / TOKEN_KEY)
    if signing_key is None and generate_signing_key:
        signing_key = lineage_signing_key(data_dir)
    return ServerConfig(
        identity=f"server-{socket.gethostname()}",
        barn=BarnConfig(
            name="m0",
            members=(MemberConfig("m0", f"127.0.0.1:{chosen.raft}", f"127.0.0.1:{chosen.barn}"),),
            data_dir=data_dir / "barn",
            secret=barn_secret,
        ),
        api=ApiSettings(
            address=f"127.0.0.1:{chosen.api}",
            tls=TlsFiles(
                ca=(pki / CA_CERT).read_bytes(),
                cert=(pki / SERVER_CERT).read_bytes(),
                key=(pki / SERVER_KEY).read_bytes(),
            ),
            verifier=TokenVerifier(key.public_key()),
            kek=load_kek(pki / KEK_FILE),
        ),
        sources=(source_spec(data_dir, repo, name, resync),),
        http_address=("127.0.0.1", chosen.http),
        metrics_token=metrics_token.decode().strip(),
        hook_secrets={name: hook_secret.strip()},
        resync=resync,
        lineage_signing_key=signing_key.resolve() if signing_key is not None else None,
    )
