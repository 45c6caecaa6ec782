"""Frame authentication and the no-globals decoder used on the Raft port."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from runink.barn.config import BarnConfig, ConfigError, MemberConfig
from runink.barn.crypto import CLIENT, PEER, Session, dumps_message, loads_message, master_key
from runink.barn.models import AuthenticationError


def pair(
    kind: bytes = PEER, secret_a: bytes = b"s" * 32, secret_b: bytes = b"s" * 32
) -> tuple[Session, Session]:
    a = Session(master_key(secret_a), kind, initiator=True)
    b = Session(master_key(secret_b), kind, initiator=False)
    a.accept_hello(b.hello())
    b.accept_hello(a.hello())
    return a, b


def test_sealed_frames_roundtrip_in_order() -> None:
    a, b = pair()
    frames = [a.seal(b"one"), a.seal(b"two")]
    assert [b.open(f) for f in frames] == [b"one", b"two"]
    assert a.open(b.seal(b"back")) == b"back"


def test_wrong_secret_replay_reorder_and_reflection_fail() -> None:
    a, b = pair(secret_b=b"t" * 32)
    with pytest.raises(AuthenticationError):
        b.open(a.seal(b"hello"))
    a, b = pair()
    first, second = a.seal(b"1"), a.seal(b"2")
    with pytest.raises(AuthenticationError):
        b.open(second)  # reordered
    assert b.open(first) == b"1"
    with pytest.raises(AuthenticationError):
        b.open(first)  # replayed
    with pytest.raises(AuthenticationError):
        a.open(a.seal(b"mine"))  # reflected back at its sender
    _, d = pair()
    with pytest.raises(AuthenticationError):
        d.open(a.seal(b"other session"))


def test_client_and_peer_channels_do_not_mix() -> None:
    a = Session(master_key(b"s" * 32), PEER, initiator=True)
    b = Session(master_key(b"s" * 32), CLIENT, initiator=False)
    with pytest.raises(AuthenticationError):
        b.accept_hello(a.hello())


class _Marker:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


def test_decoder_refuses_any_callable(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"type": "append_entries", "x": _Marker(str(marker))})
    with pytest.raises(pickle.UnpicklingError):
        loads_message(evil)
    assert not marker.exists()
    message = {
        "type": "append_entries",
        "entries": [(b"\x00cmd", 3, 1)],
        "term": 2,
        "commit_index": 1,
        "prevLogIdx": 2,
        "prevLogTerm": 1,
        "ok": None,
    }
    assert loads_message(dumps_message(message)) == message


def test_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    members = (MemberConfig("m0", "127.0.0.1:1", "127.0.0.1:2"),)
    with pytest.raises(ConfigError, match="secret"):
        BarnConfig("m0", members, tmp_path, b"")
    with pytest.raises(ConfigError, match="secret"):
        BarnConfig("m0", members, tmp_path, b"short")
    config = BarnConfig("m0", members, tmp_path, os.urandom(32))
    assert "secret" not in repr(config)
