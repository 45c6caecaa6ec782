"""``runink.yaml``: the settings of a pipeline repository."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runink.findings import Finding, Position
from runink.repo.sources import resolve_inside
from runink.yamlpos import YamlDocument

DEFAULT_LINEAGE_BRANCH = "runink/lineage"
DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class RepositorySettings:
    name: str
    path: str
    sha: str
    default_herd: str
    lineage_branch: str = DEFAULT_LINEAGE_BRANCH
    lineage_signing: str = "ssh"
    sigstore_identity: str | None = None
    """Whose Sigstore certificate may sign lineage (``spec.lineage.sigstore.identity``)."""
    sigstore_issuer: str | None = None
    """The OIDC issuer that must have vouched for it (``spec.lineage.sigstore.issuer``)."""
    verify_mode: str = "none"
    allowed_signers: str | None = None
    branch: str = DEFAULT_BRANCH
    """The branch the controllers deploy from (the pre-receive hook audits pushes to it)."""
    contract_perspective: str = "consumer"
    """Whose view decides that a contract change is breaking: consumer or producer."""
    positions: Mapping[str, Position] = field(default_factory=dict)

    def position_of(self, key: str) -> Position:
        """Where ``spec.<key>`` is written (or the file's start)."""
        return self.positions.get(key, Position(self.path))


def build_settings(doc: YamlDocument, sha: str) -> tuple[RepositorySettings, list[Finding]]:
    """Settings from a schema-valid ``runink.yaml``, checking what a schema cannot."""
    data: Mapping[str, Any] = doc.data
    spec: Mapping[str, Any] = data["spec"]
    findings: list[Finding] = []
    lineage = spec.get("lineage") or {}
    branch = str(lineage.get("branch", DEFAULT_LINEAGE_BRANCH))
    if ".." in branch or branch.endswith((".lock", "/", ".")) or "/." in branch:
        findings.append(
            Finding(
                "repo.branch",
                f"{branch!r} is not a valid git branch name",
                doc.position(("spec", "lineage", "branch")),
                "spec.lineage.branch",
                "no '..', no component starting with '.', no '.lock' ending",
            )
        )
    signers = spec.get("allowedSigners")
    if signers is not None and resolve_inside("", str(signers)) is None:
        findings.append(
            Finding(
                "repo.path-escape",
                f"allowedSigners {signers!r} points outside the repository",
                doc.position(("spec", "allowedSigners")),
                "spec.allowedSigners",
                "use a path inside the repository, e.g. .runink/allowed_signers",
            )
        )
        signers = None
    verify = (spec.get("verify") or {}).get("mode", "none")
    if verify == "signed" and signers is None and "allowedSigners" not in spec:
        findings.append(
            Finding(
                "repo.missing-signers",
                "verify.mode is 'signed' but no allowedSigners file is named",
                doc.position(("spec", "verify", "mode")),
                "spec.verify.mode",
                "add allowedSigners: .runink/allowed_signers (git's allowed-signers format)",
            )
        )
    signing = str(lineage.get("signing", "ssh"))
    sigstore = lineage.get("sigstore") or {}
    if signing == "sigstore":
        findings += [
            Finding(
                "repo.sigstore-policy",
                f"signing is 'sigstore' but spec.lineage.sigstore.{key} is not set: without it "
                "anyone with an OIDC identity could sign lineage that verifies",
                doc.position(("spec", "lineage", "signing")),
                f"spec.lineage.sigstore.{key}",
                hint,
            )
            for key, hint in (
                (
                    "identity",
                    "the CI identity that signs, e.g. identity: https://github.com/"
                    "acme/pipelines/.github/workflows/lineage.yml@refs/heads/main",
                ),
                ("issuer", "e.g. issuer: https://token.actions.githubusercontent.com"),
            )
            if not sigstore.get(key)
        ]
    settings = RepositorySettings(
        name=str(data["metadata"]["name"]),
        path=doc.path,
        sha=sha,
        default_herd=str(spec["defaultHerd"]),
        lineage_branch=branch,
        lineage_signing=signing,
        sigstore_identity=str(sigstore["identity"]) if sigstore.get("identity") else None,
        sigstore_issuer=str(sigstore["issuer"]) if sigstore.get("issuer") else None,
        verify_mode=str(verify),
        allowed_signers=None if signers is None else str(signers),
        branch=str(spec.get("branch", DEFAULT_BRANCH)),
        contract_perspective=str((spec.get("contracts") or {}).get("perspective", "consumer")),
        positions={key: doc.position(("spec", key)) for key in spec},
    )
    return settings, findings
