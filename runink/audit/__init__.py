"""Pull-request audit: contract changes, affected pipelines, golden tests, desired state."""

from runink.audit.contracts import ContractReport
from runink.audit.desired import DesiredDiff, HerdChange, PlanChange
from runink.audit.golden import GoldenOutcome
from runink.audit.hook import HookResult, pre_receive
from runink.audit.render import github_annotations, junit, markdown, summary, text
from runink.audit.run import AuditReport, audit

__all__ = [
    "AuditReport",
    "ContractReport",
    "DesiredDiff",
    "GoldenOutcome",
    "HerdChange",
    "HookResult",
    "PlanChange",
    "audit",
    "github_annotations",
    "junit",
    "markdown",
    "pre_receive",
    "summary",
    "text",
]
