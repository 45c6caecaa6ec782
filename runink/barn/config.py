"""Barn member configuration: static membership, addresses, data dir, secret, tuning."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import yaml

from runink.barn.crypto import MIN_SECRET_BYTES

#: Environment variable consulted when the config names no secret file.
SECRET_ENV = "RUNINK_BARN_SECRET"  # noqa: S105 (a variable name, not a secret)


class ConfigError(ValueError):
    """The configuration cannot start a member (message says what to fix)."""


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` -> (host, port); the host must be a literal IP address."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"address {address!r} is not host:port")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"address {address!r}: the host must be an IP address") from None
    value = int(port)
    if not 0 < value < 65536:
        raise ConfigError(f"address {address!r}: port out of range")
    return host, value


@dataclass(frozen=True)
class MemberConfig:
    """One cluster member: a unique name, its Raft address and its client address."""

    name: str
    raft_address: str
    client_address: str


@dataclass(frozen=True)
class Tuning:
    """Raft and storage knobs (seconds unless named otherwise); defaults are measured."""

    election_timeout_min: float = 0.6
    election_timeout_max: float = 1.2
    heartbeat_period: float = 0.1
    connection_timeout: float = 3.0
    reconnect_period: float = 0.3
    tick_period: float = 0.05
    snapshot_entries: int = 20_000
    snapshot_seconds: float = 600.0
    history_limit: int = 10_000
    request_timeout: float = 5.0
    max_request_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class BarnConfig:
    """Everything one member needs. ``secret`` never appears in repr or logs."""

    name: str
    members: tuple[MemberConfig, ...]
    data_dir: Path
    secret: bytes = field(repr=False)
    tuning: Tuning = field(default_factory=Tuning)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"Barn refuses to start without a cluster secret of at least "
                f"{MIN_SECRET_BYTES} bytes (set secret_file or ${SECRET_ENV})"
            )
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ConfigError("member names must be unique")
        if len(self.members) not in (1, 3, 5):
            raise ConfigError(f"a cluster has 1, 3 or 5 members, not {len(self.members)}")
        if self.name not in names:
            raise ConfigError(f"this member {self.name!r} is not in members {names}")
        seen: set[str] = set()
        for member in self.members:
            for address in (member.raft_address, member.client_address):
                parse_address(address)
                if address in seen:
                    raise ConfigError(f"address {address} is used twice")
                seen.add(address)
        t = self.tuning
        if not t.election_timeout_min > 3 * t.heartbeat_period:
            raise ConfigError("election_timeout_min must exceed 3 x heartbeat_period")
        if not t.election_timeout_max > t.election_timeout_min:
            raise ConfigError("election_timeout_max must exceed election_timeout_min")
        if t.connection_timeout < t.election_timeout_max:
            raise ConfigError("connection_timeout must be at least election_timeout_max")

    @property
    def me(self) -> MemberConfig:
        """This member's own entry."""
        return next(m for m in self.members if m.name == self.name)

    @property
    def peers(self) -> tuple[MemberConfig, ...]:
        return tuple(m for m in self.members if m.name != self.name)

    def for_member(self, name: str) -> BarnConfig:
        """The same cluster seen from another member (data dir sibling by name)."""
        return replace(self, name=name, data_dir=self.data_dir.parent / name)


def _read_secret(data: dict[str, Any], base: Path) -> bytes:
    secret_file = data.get("secret_file")
    if secret_file:
        path = Path(secret_file)
        if not path.is_absolute():
            path = base / path
        try:
            return path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret_file {path}: {exc.strerror}") from None
    value = os.environ.get(str(data.get("secret_env", SECRET_ENV)), "")
    return value.encode()


def config_from_dict(data: dict[str, Any], base: Path = Path()) -> BarnConfig:
    """Build a config from parsed YAML/JSON. Relative paths resolve against ``base``."""
    if not isinstance(data, dict):
        raise ConfigError("the config must be a mapping")
    try:
        members = tuple(
            MemberConfig(str(m["name"]), str(m["raft"]), str(m["client"])) for m in data["members"]
        )
        tuning_data = data.get("tuning") or {}
        known = set(Tuning.__dataclass_fields__)
        unknown = set(tuning_data) - known
        if unknown:
            raise ConfigError(f"unknown tuning keys: {sorted(unknown)}")
        tuning = Tuning(**tuning_data)
        data_dir = Path(str(data["data_dir"]))
        if not data_dir.is_absolute():
            data_dir = base / data_dir
        return BarnConfig(
            name=str(data["name"]),
            members=members,
            data_dir=data_dir,
            secret=_read_secret(data, base),
            tuning=tuning,
        )
    except KeyError as exc:
        raise ConfigError(f"missing config key {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"bad config value: {exc}") from None


def load_config(path: Path, name: str | None = None) -> BarnConfig:
    """Load a YAML or JSON config file; ``name`` overrides the member it describes."""
    text = path.read_bytes()
    data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if name is not None and isinstance(data, dict):
        data = {**data, "name": name}
    return config_from_dict(data, path.parent)
