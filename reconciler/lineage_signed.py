"""The ``LineageSigned`` condition of a source: how its lineage commits are signed.

An explicit opt-out (``spec.lineage.signing: none``) must stay visible: the condition
is ``False`` with reason ``SigningDisabled`` and ``runi status`` shows it. Signing that
cannot happen (no SSH key, no OIDC identity for Sigstore) is ``False`` with reason
``SigningUnavailable``; working signing is ``True``. Written on ``/sources/<repo>`` with a
compare-and-swap, only when it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.source import condition
from runink.api.keys import source_key
from runink.api.records import SourceRecord
from runink.barn import BarnClient, BarnError, Compare, CompareOp, CompareTarget, Op

CONDITION: Final = "LineageSigned"


@dataclass(frozen=True)
class Signed:
    """What the condition says: status, reason and message."""

    status: str
    reason: str
    message: str


def signing_state(mode: str, key: Path | None, sigstore_problem: str | None) -> Signed | None:
    """The condition for signing ``mode``; None when it is not known yet.

    ``sigstore_problem`` is why Sigstore cannot sign ("" if it can; None: not probed).
    """
    if mode == "none":
        return Signed(
            "False",
            "SigningDisabled",
            "spec.lineage.signing is 'none': lineage commits are not signed, so nobody can "
            "tell them from forged ones",
        )
    if mode == "sigstore":
        if sigstore_problem is None:
            return None
        if sigstore_problem:
            return Signed("False", "SigningUnavailable", sigstore_problem)
        return Signed("True", "Sigstore", "each commit carries a Sigstore bundle")
    if key is None:
        return Signed(
            "False",
            "SigningUnavailable",
            "no SSH signing key: start the server with --lineage-signing-key PATH",
        )
    return Signed("True", "SSHKey", "commits are signed with the server's SSH key")


def note_signing(barn: BarnClient, repo: str, state: Signed | None) -> None:
    """Put ``state`` on ``/sources/<repo>`` as the LineageSigned condition, if it changed."""
    if state is None:
        return
    kv = barn.get(source_key(repo), serializable=True)  # local read: no Raft round trip
    if kv is None:
        return  # the source controller has not written the record yet
    record = SourceRecord.from_dict(kv.value)
    last = next((c for c in record.conditions if c.type == CONDITION), None)
    if last is not None and (last.status, last.reason, last.message) == (
        state.status,
        state.reason,
        state.message,
    ):
        return
    revision = record.applied_revision or record.fetched_revision
    noted = condition(CONDITION, state.status, state.reason, state.message, revision, last)
    updated = SourceRecord(
        repo=record.repo,
        fetched_revision=record.fetched_revision,
        applied_revision=record.applied_revision,
        conditions=(*(c for c in record.conditions if c.type != CONDITION), noted),
        updated_at=record.updated_at,
        applied_at=record.applied_at,
    )
    try:
        barn.txn(
            [
                Compare(
                    source_key(repo), CompareTarget.MOD_REVISION, CompareOp.EQUAL, kv.mod_revision
                )
            ],
            [Op.put(source_key(repo), updated.to_dict())],
        )
    except BarnError:
        return  # lost a race or no leader: the next reconcile writes it again
