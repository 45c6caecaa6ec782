"""Authenticated, encrypted framing shared by Barn's Raft port and its client port.

A connection starts with each side sending a hello (magic, channel kind, 32 random
bytes). Both sides then derive one ChaCha20-Poly1305 key per direction from the
cluster secret, both nonces and the direction, and every later frame is sealed with a
per-direction counter as nonce. So a frame only opens for someone holding the secret,
frames cannot be replayed into another connection or reflected back, and nothing is
decoded -- let alone unpickled -- before its tag has been verified.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import struct
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runink.barn.models import AuthenticationError

MAGIC = b"RNKBARN1"
NONCE_SIZE = 32
#: Channel kinds: keys differ per kind, so a peer frame is never a client frame.
PEER = b"P"
CLIENT = b"C"
HELLO_SIZE = len(MAGIC) + 1 + NONCE_SIZE
LENGTH = struct.Struct(">I")
#: Minimum secret length: 16 bytes (128 bits) of key material.
MIN_SECRET_BYTES = 16


def master_key(secret: bytes) -> bytes:
    """Stretch the cluster secret into the key every session key derives from."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the cluster secret must be at least {MIN_SECRET_BYTES} bytes")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"runink-barn", info=b"master-v1"
    ).derive(secret)


class Session:
    """One side of one connection: handshake state and the two directional ciphers."""

    def __init__(self, master: bytes, kind: bytes, initiator: bool) -> None:
        self._master = master
        self._kind = kind
        self._initiator = initiator
        self._nonce = os.urandom(NONCE_SIZE)
        self._send: ChaCha20Poly1305 | None = None
        self._recv: ChaCha20Poly1305 | None = None
        self._send_counter = 0
        self._recv_counter = 0

    @property
    def established(self) -> bool:
        return self._recv is not None

    def hello(self) -> bytes:
        """Our hello frame body."""
        return MAGIC + self._kind + self._nonce

    def accept_hello(self, body: bytes) -> None:
        """Take the peer's hello and derive the session keys."""
        if len(body) != HELLO_SIZE or body[: len(MAGIC)] != MAGIC:
            raise AuthenticationError("not a Barn hello")
        if body[len(MAGIC) : len(MAGIC) + 1] != self._kind:
            raise AuthenticationError("wrong channel kind")
        peer = body[len(MAGIC) + 1 :]
        if hmac.compare_digest(peer, self._nonce):
            raise AuthenticationError("reflected hello")
        first, second = (self._nonce, peer) if self._initiator else (peer, self._nonce)

        def key(direction: bytes) -> bytes:
            material = direction + self._kind + first + second
            return hmac.new(self._master, material, hashlib.sha256).digest()

        i2r, r2i = ChaCha20Poly1305(key(b"i2r")), ChaCha20Poly1305(key(b"r2i"))
        self._send, self._recv = (i2r, r2i) if self._initiator else (r2i, i2r)

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt and authenticate one frame body."""
        if self._send is None:
            raise AuthenticationError("session not established")
        nonce = self._send_counter.to_bytes(12, "big")
        self._send_counter += 1
        return self._send.encrypt(nonce, plaintext, None)

    def open(self, body: bytes) -> bytes:
        """Verify and decrypt one frame body; raises AuthenticationError if forged."""
        if self._recv is None:
            raise AuthenticationError("session not established")
        nonce = self._recv_counter.to_bytes(12, "big")
        try:
            plaintext = self._recv.decrypt(nonce, body, None)
        except InvalidTag:
            raise AuthenticationError("frame failed authentication") from None
        self._recv_counter += 1
        return plaintext


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Loads only built-in containers and scalars: any class or function is refused.

    Without ``find_class`` a pickle cannot name a callable, so REDUCE/BUILD have
    nothing to call: loading cannot run code even if a peer were compromised.
    """

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def dumps_message(message: Any) -> bytes:
    """Encode a Raft message (dicts, lists, tuples, bytes, str, numbers)."""
    return pickle.dumps(message, protocol=5)


def loads_message(data: bytes) -> Any:
    """Decode a Raft message; refuses anything that would need a class or function."""
    import io

    return _NoGlobalsUnpickler(io.BytesIO(data)).load()
