"""The safe expression language of ``when=``, ``@assert`` and backticked ``Then`` lines."""

from runink.dsl.expr.compiler import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_EXPRESSION_LENGTH,
    MAX_INT_BITS,
    MAX_MATCH_INPUT,
    MAX_NUMBER_LENGTH,
    MAX_STRING_LENGTH,
    CompiledExpr,
    ExprRuntimeError,
    FunctionSpec,
    compile_expression,
)
from runink.dsl.expr.regex import MAX_REGEX_LENGTH, regex_problem

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_EXPRESSION_LENGTH",
    "MAX_INT_BITS",
    "MAX_MATCH_INPUT",
    "MAX_NUMBER_LENGTH",
    "MAX_REGEX_LENGTH",
    "MAX_STRING_LENGTH",
    "CompiledExpr",
    "ExprRuntimeError",
    "FunctionSpec",
    "compile_expression",
    "regex_problem",
]
