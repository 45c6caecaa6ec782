"""Barn: Runink's Raft-replicated key-value store (etcd's model, on pysyncobj).

In-process: ``Barn(config)``; from another process: ``RemoteBarn.from_config(config)``;
a member as a process: ``python -m runink.barn --config FILE``.
"""

from runink.barn.client import RemoteBarn, RemoteWatch
from runink.barn.config import BarnConfig, ConfigError, MemberConfig, Tuning, load_config
from runink.barn.member import Member, serve
from runink.barn.models import (
    AuthenticationError,
    BarnError,
    CompactedError,
    Compare,
    CompareOp,
    CompareTarget,
    DeleteResult,
    Event,
    EventType,
    FutureRevisionError,
    InvalidRequestError,
    KeyValue,
    LeaseInfo,
    LeaseNotFoundError,
    Op,
    OpKind,
    PeerStatus,
    PutResult,
    RangeResult,
    Status,
    TxnResult,
    UnavailableError,
    WatchResponse,
)
from runink.barn.node import Barn, BarnClient, BarnNode, Watch, WatchStream
from runink.barn.state import BarnState

__all__ = [
    "AuthenticationError",
    "Barn",
    "BarnClient",
    "BarnConfig",
    "BarnError",
    "BarnNode",
    "BarnState",
    "CompactedError",
    "Compare",
    "CompareOp",
    "CompareTarget",
    "ConfigError",
    "DeleteResult",
    "Event",
    "EventType",
    "FutureRevisionError",
    "InvalidRequestError",
    "KeyValue",
    "LeaseInfo",
    "LeaseNotFoundError",
    "Member",
    "MemberConfig",
    "Op",
    "OpKind",
    "PeerStatus",
    "PutResult",
    "RangeResult",
    "RemoteBarn",
    "RemoteWatch",
    "Status",
    "Tuning",
    "TxnResult",
    "UnavailableError",
    "Watch",
    "WatchResponse",
    "WatchStream",
    "load_config",
    "serve",
]
