"""The Feature DSL: ``feature.lark``, the parser to an immutable AST, and expressions."""

from runink.dsl.errors import DslError
from runink.dsl.expr import CompiledExpr, ExprRuntimeError, compile_expression
from runink.dsl.nodes import ArgPath, Feature, Scenario, StepLine, Tag, Value, to_plain
from runink.dsl.parser import known_tags, parse_feature
from runink.dsl.tags import TAGS, ArgSpec, TagSpec, parse_duration

__all__ = [
    "TAGS",
    "ArgPath",
    "ArgSpec",
    "CompiledExpr",
    "DslError",
    "ExprRuntimeError",
    "Feature",
    "Scenario",
    "StepLine",
    "Tag",
    "TagSpec",
    "Value",
    "compile_expression",
    "known_tags",
    "parse_duration",
    "parse_feature",
    "to_plain",
]
