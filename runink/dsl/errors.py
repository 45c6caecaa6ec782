"""The error the DSL and expression compilers raise: positioned findings, never a traceback."""

from __future__ import annotations

from collections.abc import Sequence

from runink.findings import Finding, Position, RuninkError


class DslError(RuninkError):
    """A feature file or an expression that cannot be used; carries every finding."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        super().__init__(findings)


def finding(code: str, message: str, position: Position, hint: str = "") -> Finding:
    """A :class:`Finding` with the DSL's conventions (error severity, no key)."""
    return Finding(code=code, message=message, position=position, hint=hint)


def shift(base: Position, line: int, column: int) -> Position:
    """The position of ``line:column`` (1-based) of a text that starts at ``base``."""
    if line <= 1:
        return Position(base.file, base.line, base.column + column - 1)
    return Position(base.file, base.line + line - 1, column)
