"""The AST of a feature file: immutable nodes, each with the position it was written at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

from runink.findings import Position

#: A tag argument value: strings, numbers, booleans, lists (as tuples) and maps.
Value: TypeAlias = "str | int | float | bool | tuple[Value, ...] | Mapping[str, Value]"

#: Where a value sits inside a tag's arguments: ``(0,)`` is the first positional
#: argument, ``("fields", 1)`` the second element of the ``fields=`` list.
ArgPath: TypeAlias = tuple[int | str, ...]

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def to_plain(value: Value) -> Any:
    """``value`` as plain JSON data (lists and dicts), e.g. for JSON Schema validation."""
    if isinstance(value, tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Tag:
    """``@name`` or ``@name(args, key=value)``.

    ``positions`` maps the :data:`ArgPath` of every argument value, nested ones
    included, to where it was written; ``key_positions`` holds where each keyword
    was written, for "unknown parameter" findings.
    """

    name: str
    args: tuple[Value, ...]
    kwargs: Mapping[str, Value]
    position: Position
    positions: Mapping[ArgPath, Position] = field(default_factory=lambda: _EMPTY, compare=False)
    key_positions: Mapping[str, Position] = field(default_factory=lambda: _EMPTY, compare=False)
    has_parens: bool = field(default=False, compare=False)

    def __hash__(self) -> int:
        # The argument mappings are not hashable; a tag is identified by where it is written.
        return hash((self.name, self.position))

    def position_of(self, path: ArgPath) -> Position:
        """Where the value at ``path`` (or its nearest written ancestor) was written."""
        for end in range(len(path), 0, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return self.position

    def key_position(self, key: str) -> Position:
        """Where keyword ``key`` was written (the tag's position when it was not)."""
        return self.key_positions.get(key, self.position)

    def plain_kwargs(self) -> dict[str, Any]:
        """The keyword arguments as plain JSON data."""
        return {k: to_plain(v) for k, v in self.kwargs.items()}


@dataclass(frozen=True)
class StepLine:
    """A ``Given/When/Then/And/But/Do`` line.

    ``expression`` holds the text between the backticks when a ``Then`` line (or an
    ``And``/``But`` line continuing a ``Then``) is wholly one backticked expression;
    ``expression_position`` is where that text starts.
    """

    keyword: str
    text: str
    position: Position
    expression: str | None = None
    expression_position: Position | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Scenario:
    """One pipeline: its tags in the order written and its readable specification."""

    name: str
    tags: tuple[Tag, ...]
    steps: tuple[StepLine, ...]
    position: Position

    def tags_named(self, name: str) -> tuple[Tag, ...]:
        """The tags called ``name`` (without ``@``), in the order written."""
        return tuple(t for t in self.tags if t.name == name)

    @property
    def assertions(self) -> tuple[StepLine, ...]:
        """The backticked lines, executable per record."""
        return tuple(s for s in self.steps if s.expression is not None)


@dataclass(frozen=True)
class Feature:
    """A parsed ``.dsl`` file: one Feature, its tags, description and scenarios."""

    name: str
    description: str
    tags: tuple[Tag, ...]
    scenarios: tuple[Scenario, ...]
    position: Position

    def tags_named(self, name: str) -> tuple[Tag, ...]:
        """The feature-level tags called ``name`` (without ``@``)."""
        return tuple(t for t in self.tags if t.name == name)
