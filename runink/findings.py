"""Positioned findings: the one error value every Runink component reports.

A finding names the file, line and column (1-based), a stable code, what was wrong,
and a hint. Library code returns findings (or raises :class:`RuninkError` carrying
them); only the CLI prints them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Position:
    """A place in a repository file; line and column are 1-based."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Finding:
    """One problem found in user input, with where it is and how to fix it."""

    code: str
    message: str
    position: Position
    key: str = ""
    hint: str = ""
    severity: Severity = Severity.ERROR

    @property
    def file(self) -> str:
        return self.position.file

    @property
    def line(self) -> int:
        return self.position.line

    @property
    def column(self) -> int:
        return self.position.column

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.code, self.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity.value,
            "code": self.code,
            "key": self.key,
            "message": self.message,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        where = f" {self.key}:" if self.key else ""
        text = f"{self.position}: {self.severity.value}[{self.code}]:{where} {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


@dataclass(frozen=True)
class Findings:
    """An ordered, de-duplicated collection of findings."""

    items: tuple[Finding, ...] = field(default=())

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> Findings:
        unique = {(f.sort_key(), f.key, f.hint, f.severity): f for f in findings}
        return cls(tuple(sorted(unique.values(), key=Finding.sort_key)))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.items if f.severity is Severity.ERROR)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


class RuninkError(Exception):
    """Raised where a function cannot return a value; carries positioned findings."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(sorted(findings, key=Finding.sort_key))
        super().__init__("\n".join(str(f) for f in self.findings))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or "" when nothing is close."""
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else ""
