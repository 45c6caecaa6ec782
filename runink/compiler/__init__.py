"""AST + contracts -> Plan: one per Scenario (DAG of steps, edges, resources, trigger)."""

from runink.compiler.graph import to_dot, to_mermaid
from runink.compiler.plan import (
    Assertion,
    ContractRef,
    Edge,
    Node,
    Plan,
    Resources,
    Slo,
    Trigger,
    canonical_json,
    plan_from_dict,
)
from runink.compiler.repo import Compiler, CompileResult, CompileStats, PlanDelta, feature_name

__all__ = [
    "Assertion",
    "CompileResult",
    "CompileStats",
    "Compiler",
    "ContractRef",
    "Edge",
    "Node",
    "Plan",
    "PlanDelta",
    "Resources",
    "Slo",
    "Trigger",
    "canonical_json",
    "feature_name",
    "plan_from_dict",
    "to_dot",
    "to_mermaid",
]
