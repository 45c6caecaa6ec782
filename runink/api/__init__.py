"""Runink's control plane API: gRPC over mTLS, bearer tokens, herd RBAC, sealed secrets.

Server: ``ApiServer(store, settings)`` (or ``python -m runink.api --config FILE``);
client: ``ApiClient``; records Barn holds: :mod:`runink.api.records`.
"""

from runink.api.client import ApiClient, ApiError, to_dict
from runink.api.config import ApiConfig, ApiConfigError, load_api_config
from runink.api.pki import Identity, PkiError, init_pki, issue
from runink.api.rbac import RPC_PERMISSIONS, Permission, PermissionDenied
from runink.api.records import (
    AssignmentRecord,
    Condition,
    NodeRecord,
    NodeReport,
    PipelineRecord,
    RecordError,
    RunRecord,
    SecretRecord,
    SliceState,
    SourceRecord,
    StatusRecord,
    StepRecord,
    herd_from_dict,
    herd_to_dict,
)
from runink.api.secrets import Kek, SecretError, load_kek, seal, unseal
from runink.api.server import ApiServer, ApiSettings, Store, TlsFiles
from runink.api.tokens import (
    OidcSettings,
    Principal,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    load_private_key,
    parse_ttl,
)

__all__ = [
    "RPC_PERMISSIONS",
    "ApiClient",
    "ApiConfig",
    "ApiConfigError",
    "ApiError",
    "ApiServer",
    "ApiSettings",
    "AssignmentRecord",
    "Condition",
    "Identity",
    "Kek",
    "NodeRecord",
    "NodeReport",
    "OidcSettings",
    "Permission",
    "PermissionDenied",
    "PipelineRecord",
    "PkiError",
    "Principal",
    "RecordError",
    "RunRecord",
    "SecretError",
    "SecretRecord",
    "SliceState",
    "SourceRecord",
    "StatusRecord",
    "StepRecord",
    "Store",
    "TlsFiles",
    "TokenError",
    "TokenIssuer",
    "TokenVerifier",
    "herd_from_dict",
    "herd_to_dict",
    "init_pki",
    "issue",
    "load_api_config",
    "load_kek",
    "load_private_key",
    "parse_ttl",
    "seal",
    "to_dict",
    "unseal",
]
